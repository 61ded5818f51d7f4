package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vibemon/vibemon"
)

// batchItem is one element of a telemetry batch: a reading, or why it was
// rejected.
type batchItem struct {
	reading vibemon.Reading
	err     error
}

// decodeBatch decodes a telemetry batch {"readings":[...]}: a batch of up
// to 5,000 readings is the hot path of the server. Each element is judged
// alone (a wrong type or unknown field rejects that reading only, see
// batchScanner.reading); a body that is not JSON, or holds more than
// maxBatch readings, fails whole.
//
// The body is read whole (the server bounds it, decompressed too, by
// MaxBodyBytes) and decoded by scanBatch, a byte scanner for this one
// schema. A body that fails whole is rare and goes to decodeBatchStream,
// the reference decoder, for its exact error; so does a body whose reading
// failed (over the size limit, broken gzip), replayed up to the failure,
// so that an earlier JSON error still comes first as it did when the body
// was streamed.
func decodeBatch(r io.Reader, maxBatch int) ([]batchItem, error) {
	buf := batchBufs.Get().(*bytes.Buffer)
	defer putBatchBuf(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return decodeBatchStream(io.MultiReader(bytes.NewReader(buf.Bytes()), errReader{err}), maxBatch)
	}
	if items, ok := scanBatch(buf.Bytes(), maxBatch); ok {
		return items, nil
	}
	return decodeBatchStream(bytes.NewReader(buf.Bytes()), maxBatch)
}

// batchBufs holds body buffers between requests: a batch of 1,000 readings
// is about 400 kB, and growing a fresh buffer to that costs as much as
// scanning it.
var batchBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBatchBuf keeps rare huge bodies from staying in the pool.
const maxPooledBatchBuf = 4 << 20

func putBatchBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBatchBuf {
		batchBufs.Put(b)
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func batchSyntaxError(err error) error {
	if e := bodyLimitError(err); e != nil {
		return e
	}
	var ve *vibemon.Error
	switch {
	case errors.As(err, &ve):
		return ve
	case strings.HasPrefix(err.Error(), "gzip: ") || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader):
		return invalidf("The body is not valid gzip.")
	case errors.Is(err, io.EOF):
		return invalidf("The body is empty; a JSON object {\"readings\":[...]} is expected.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidf("The JSON body ends too early.")
	}
	return invalidf("Malformed JSON: %s.", strings.TrimPrefix(err.Error(), "jsontext: "))
}

// unquote returns a JSON string's contents. Names and timestamps with
// escapes are unquoted properly (rare, so allocating is fine there).
func unquote(v jsontext.Value) []byte {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1]
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return v
	}
	return []byte(s)
}

func shortString(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
