package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
)

func TestParseTelegramUpdate(t *testing.T) {
	good := map[string]telegramUpdate{
		`{"update_id":7,"message":{"message_id":1,"date":1772353800,"chat":{"id":4242,"type":"private"},"text":"/start abc"}}`: {UpdateID: 7, Message: &telegramMessage{ChatID: 4242, Text: "/start abc"}},
		`{"update_id":8,"message":{"chat":{"id":-100123},"photo":[{"file_id":"x"}]}}`:                                          {UpdateID: 8, Message: &telegramMessage{ChatID: -100123}},
		`{"update_id":9,"edited_message":{"chat":{"id":1},"text":"/start abc"}}`:                                               {UpdateID: 9},
		` {"update_id":0,"message":null} ` + "\n":                                                                              {UpdateID: 0},
		`{"update_id":10,"message":{"chat":{"id":5},"text":null}}`:                                                             {UpdateID: 10, Message: &telegramMessage{ChatID: 5}},
	}
	for body, want := range good {
		got, err := parseTelegramUpdate([]byte(body))
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if g, w := describeUpdate(got), describeUpdate(want); g != w {
			t.Errorf("%s: got %s, want %s", body, g, w)
		}
	}
	for _, body := range []string{
		``, `null`, `[]`, `"update"`, `42`, `{}`, `{"message":{"chat":{"id":1},"text":"/start abc"}}`,
		`{"update_id":"7"}`, `{"update_id":1.5}`, `{"update_id":-1}`, `{"update_id":99999999999999999999}`,
		`{"update_id":7,"message":{"text":"/start abc"}}`, `{"update_id":7,"message":{"chat":{},"text":"/start abc"}}`,
		`{"update_id":7,"message":{"chat":{"id":0},"text":"/start abc"}}`, `{"update_id":7,"message":{"chat":{"id":1},"text":5}}`,
		`{"update_id":7,"message":"hi"}`, `{"update_id":7}{"update_id":8}`, `{"update_id":7} x`, `{"update_id":7`,
		`{"update_id":7,"message":{"chat":{"id":1},"text":"` + strings.Repeat("a", maxTelegramUpdate) + `"}}`,
	} {
		if _, err := parseTelegramUpdate([]byte(body)); vibemon.ErrorCode(err) != vibemon.EINVALID {
			t.Errorf("%.80s: err = %v, want EINVALID", body, err)
		}
	}
}

func describeUpdate(u telegramUpdate) string {
	b, _ := json.Marshal(u)
	return string(b)
}

// FuzzParseTelegramUpdate: the decoder never panics, accepts only JSON
// objects with an update_id (its key's case folded, as encoding/json does), never yields a message without a chat, and
// what it accepts survives a round trip.
func FuzzParseTelegramUpdate(f *testing.F) {
	for _, s := range []string{
		`{"update_id":7,"message":{"message_id":1,"chat":{"id":4242,"type":"private"},"text":"/start abc"}}`,
		`{"update_id":9,"edited_message":{"chat":{"id":1},"text":"/start abc"}}`,
		`{"update_id":1,"message":{"chat":{"id":-5},"text":"/start@VibeMonBot X_y-1"}}`,
		`{"update_id":1,"message":null}`, `{"update_id":1,"message":{"chat":{"id":0}}}`,
		`{"update_id":1,"update_id":2}`, `{"update_id":1e3}`, `{"update_id":7}{}`, `null`, `[]`, `{`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := parseTelegramUpdate(body)
		if err != nil {
			if vibemon.ErrorCode(err) != vibemon.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		var obj map[string]json.RawMessage
		hasID := false
		if json.Valid(body) && json.Unmarshal(body, &obj) == nil {
			for k := range obj {
				hasID = hasID || strings.EqualFold(k, "update_id") // encoding/json folds key case
			}
		}
		if !hasID {
			t.Fatalf("accepted %q, which is not a JSON object with update_id", body)
		}
		if u.UpdateID < 0 || (u.Message != nil && u.Message.ChatID == 0) {
			t.Fatalf("accepted %q as %s", body, describeUpdate(u))
		}
		again := map[string]any{"update_id": u.UpdateID}
		if u.Message != nil {
			again["message"] = map[string]any{"chat": map[string]any{"id": u.Message.ChatID}, "text": u.Message.Text}
		}
		b, _ := json.Marshal(again)
		u2, err := parseTelegramUpdate(b)
		if err != nil || describeUpdate(u2) != describeUpdate(u) {
			t.Fatalf("round trip of %s: %s, %v", describeUpdate(u), describeUpdate(u2), err)
		}
	})
}
