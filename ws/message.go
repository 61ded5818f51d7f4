package ws

import (
	"encoding/json"
	"strconv"

	"github.com/vibemon/vibemon"
)

// clientMessage is every message a client may send.
type clientMessage struct {
	Type     string `json:"type"`
	Token    string `json:"token,omitempty"`
	DeviceID int64  `json:"device_id,omitempty"`
	AssetID  int64  `json:"asset_id,omitempty"`
	Org      bool   `json:"org,omitempty"`
}

// appendEvent appends the client message for ev:
// {"type":...,"device_id":N,"asset_id":N,"data":...}. The caller has checked
// that ev.Type is one of the event types (plain ASCII) and ev.Data is valid
// JSON.
func appendEvent(dst []byte, ev vibemon.Event) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, ev.Type...)
	dst = append(dst, `","device_id":`...)
	dst = strconv.AppendInt(dst, ev.DeviceID, 10)
	dst = append(dst, `,"asset_id":`...)
	dst = strconv.AppendInt(dst, ev.AssetID, 10)
	dst = append(dst, `,"data":`...)
	if len(ev.Data) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, ev.Data...)
	}
	return append(dst, '}')
}

var readyMessage = []byte(`{"type":"ready"}`)

// errorMessage returns {"type":"error","data":{"code","message"}}.
func errorMessage(code, message string) []byte {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Data struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"data"`
	}{Type: "error", Data: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message}})
	return b
}

// snapshotMessage returns {"type":"presence","data":{"online":[ids]}}.
func snapshotMessage(online []int64) []byte {
	dst := []byte(`{"type":"presence","data":{"online":[`)
	for i, id := range online {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, "]}}"...)
}
