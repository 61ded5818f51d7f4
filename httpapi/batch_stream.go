package httpapi

import (
	"io"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vibemon/vibemon"
)

// decodeBatchStream is the first decoder of a telemetry batch, a
// streaming one on jsontext. decodeBatch (batch_scan.go) is faster and
// gives the same results; it hands every body that fails whole to this
// one, which words the error (jsontext's syntax messages, and which of
// several problems comes first). The differential fuzz target holds the
// two to the same answers on any input.
//
// Each element is judged alone (a wrong type or unknown field rejects that
// reading only); a body that is not JSON, or holds more than maxBatch
// readings, fails whole.
func decodeBatchStream(r io.Reader, maxBatch int) ([]batchItem, error) {
	// Duplicate names are detected per reading below, more cheaply than
	// the decoder's general bookkeeping does.
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true))
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, batchSyntaxError(err)
	}
	if tok.Kind() != '{' {
		return nil, invalidf("The body must be a JSON object {\"readings\":[...]}.")
	}
	var items []batchItem
	seen := false
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, batchSyntaxError(err)
		}
		if tok.Kind() == '}' {
			break
		}
		if name := tok.String(); name != "readings" {
			return nil, invalidf("Unknown field %q; the body is {\"readings\":[...]}.", name)
		}
		seen = true
		if k := dec.PeekKind(); k != '[' {
			if k == 0 {
				_, err := dec.ReadToken()
				return nil, batchSyntaxError(err)
			}
			return nil, invalidf("readings must be an array.")
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, batchSyntaxError(err)
		}
		for {
			k := dec.PeekKind()
			if k == ']' {
				break
			}
			if k == 0 {
				_, err := dec.ReadToken()
				return nil, batchSyntaxError(err)
			}
			if len(items) == maxBatch {
				return nil, vibemon.Errorf(vibemon.ETOOLARGE, "The batch has more than %d readings; at most %d are allowed per request.", maxBatch, maxBatch)
			}
			item, err := decodeReading(dec)
			if err != nil {
				return nil, batchSyntaxError(err)
			}
			items = append(items, item)
		}
		if _, err := dec.ReadToken(); err != nil {
			return nil, batchSyntaxError(err)
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err != nil {
			return nil, batchSyntaxError(err)
		}
		return nil, invalidf("The body must hold a single JSON value.")
	}
	if !seen {
		return nil, invalidf("readings is required.")
	}
	return items, nil
}

// decodeReading reads one element: {"device_id":1,"seq":5,"ts":"RFC 3339",
// <metric>:number|null,...}. It returns an error only for malformed JSON;
// a well-formed but wrong element is a batchItem with err set. Range
// checks are the pipeline's (Reading.Validate).
func decodeReading(dec *jsontext.Decoder) (batchItem, error) {
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return batchItem{}, err
		}
		return batchItem{err: invalidf("A reading must be a JSON object.")}, nil
	}
	if _, err := dec.ReadToken(); err != nil {
		return batchItem{}, err
	}
	rd := vibemon.NewReading(0, 0, time.Time{})
	var haveID, haveSeq, haveTS bool
	var bad error
	var seen uint32 // bit per metric
	for {
		if dec.PeekKind() == '}' {
			if _, err := dec.ReadToken(); err != nil {
				return batchItem{}, err
			}
			break
		}
		// ReadValue hands out the raw bytes without allocating; names and
		// numbers are read from them directly.
		rawName, err := dec.ReadValue()
		if err != nil {
			return batchItem{}, err
		}
		// The decoder's buffer moves on the next read: keep a copy.
		var nameBuf [32]byte
		name := append(nameBuf[:0], unquote(rawName)...)
		if bad != nil || dec.PeekKind() == '{' || dec.PeekKind() == '[' {
			if bad == nil {
				bad = invalidf("%s must not be an object or array.", shortString(string(name)))
			}
			if err := dec.SkipValue(); err != nil {
				return batchItem{}, err
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return batchItem{}, err
		}
		kind := v.Kind()
		switch string(name) {
		case "device_id", "seq":
			n, perr := strconv.ParseInt(string(v), 10, 64)
			if (string(name) == "seq" && haveSeq) || (string(name) == "device_id" && haveID) {
				bad = invalidf("%s appears twice.", string(name))
			} else if kind != '0' || perr != nil {
				bad = invalidf("%s must be an integer, not %s.", string(name), shortString(string(v)))
			} else if string(name) == "seq" {
				rd.Seq, haveSeq = n, true
			} else {
				rd.DeviceID, haveID = n, true
			}
		case "ts":
			if kind != '"' || haveTS {
				bad = invalidf("ts must be one RFC 3339 string, not %s.", shortString(string(v)))
				continue
			}
			t, perr := time.Parse(time.RFC3339Nano, string(unquote(v)))
			if perr != nil {
				bad = invalidf("ts %s is not an RFC 3339 time.", shortString(string(v)))
				continue
			}
			rd.TS, haveTS = t.UTC(), true
		default:
			m, ok := vibemon.ParseMetric(string(name))
			switch {
			case !ok:
				bad = invalidf("Unknown field %q: not a reading metric.", shortString(string(name)))
			case seen&(1<<m) != 0:
				bad = invalidf("%s appears twice.", string(name))
			case kind == 'n':
				// not measured
			case kind != '0':
				bad = invalidf("%s must be a number, not %s.", string(name), shortString(string(v)))
			default:
				f, perr := strconv.ParseFloat(string(v), 64)
				if perr != nil {
					bad = invalidf("%s = %s is not a finite number.", string(name), shortString(string(v)))
				}
				rd.Values[m] = f
			}
			if ok {
				seen |= 1 << m
			}
		}
	}
	switch {
	case bad != nil:
		return batchItem{err: bad}, nil
	case !haveID:
		return batchItem{err: invalidf("device_id is required.")}, nil
	case !haveSeq:
		return batchItem{err: invalidf("seq is required.")}, nil
	case !haveTS:
		return batchItem{err: invalidf("ts is required.")}, nil
	}
	return batchItem{reading: rd}, nil
}
