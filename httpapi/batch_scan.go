package httpapi

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/vibemon/vibemon"
)

// scanBatch decodes a whole body {"readings":[...]} in one pass over its
// bytes, validating JSON as strictly as jsontext does (UTF-8, escapes and
// surrogate pairs, number grammar, nesting depth). It returns ok=false for
// any body that fails whole; decodeBatch then asks decodeBatchStream for
// the error, so that only the judgement, never the wording, lives here.
// Accepted bodies give exactly decodeBatchStream's items; the differential
// fuzz target (FuzzDecodeBatchSame) holds it to that.
func scanBatch(data []byte, maxBatch int) (items []batchItem, ok bool) {
	s := batchScanner{b: data}
	s.ws()
	if !s.eat('{') {
		return nil, false
	}
	s.ws()
	if s.peek() == '}' {
		return nil, false // readings is required
	}
	for {
		// Duplicate "readings" members are allowed and read in turn, as
		// the reference decoder does.
		name, esc, ok := s.str()
		if !ok || !isReadingsName(name, esc) {
			return nil, false
		}
		s.ws()
		if !s.eat(':') {
			return nil, false
		}
		s.ws()
		if !s.eat('[') {
			return nil, false
		}
		s.ws()
		if s.peek() == ']' {
			s.i++
		} else {
			for {
				if len(items) == maxBatch {
					return nil, false
				}
				start := s.i
				it, ok := s.element()
				if !ok {
					return nil, false
				}
				if items == nil {
					// Readings of a batch are alike: size the slice by
					// the first one.
					items = make([]batchItem, 0, min(maxBatch, (len(s.b)-start)/(s.i-start)+1))
				}
				items = append(items, it)
				s.ws()
				if s.eat(',') {
					s.ws()
					continue
				}
				if s.eat(']') {
					break
				}
				return nil, false
			}
		}
		s.ws()
		if s.eat(',') {
			s.ws()
			continue
		}
		if s.eat('}') {
			break
		}
		return nil, false
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, false
	}
	return items, true
}

func isReadingsName(raw []byte, esc bool) bool {
	if !esc {
		return string(raw) == "readings"
	}
	return string(unquoteRaw(raw)) == "readings"
}

// unquoteRaw unescapes a string's raw contents (between the quotes) the
// way the reference decoder does.
func unquoteRaw(raw []byte) []byte {
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	return unquote(q)
}

// maxBatchDepth is jsontext's limit on nested objects and arrays, the body
// object counting as 1.
const maxBatchDepth = 10000

// Nesting levels of the containers scanBatch knows.
const (
	readingLevel = 3 // body object 1, readings array 2, reading 3
)

type batchScanner struct {
	b     []byte
	i     int
	stack []byte // open containers while skipping a value
	guess int    // index in readingFields of the field expected next
}

// peek returns the next byte, or -1 at the end.
func (s *batchScanner) peek() int {
	if s.i < len(s.b) {
		return int(s.b[s.i])
	}
	return -1
}

func (s *batchScanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *batchScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// strPlain marks the bytes a string holds as they are: printable ASCII
// other than '"' and '\\'.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string at s.i and returns its raw contents (between the
// quotes) and whether they hold escapes.
func (s *batchScanner) str() (raw []byte, esc, ok bool) {
	b := s.b
	i := s.i
	if i >= len(b) || b[i] != '"' {
		return nil, false, false
	}
	i++
	start := i
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return nil, false, false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], esc, true
		case c == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				return nil, false, false
			}
			esc = true
			i += n
		case c < ' ':
			return nil, false, false
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, false, false
			}
			i += n
		}
	}
}

// escapeLen returns the length of the escape sequence at the start of b,
// 0 if it is invalid. A \u escape of a UTF-16 surrogate must be the high
// half of a pair followed by the low half, as jsontext requires.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 {
			return 0
		}
		v1, ok := hex4(b[2:6])
		if !ok {
			return 0
		}
		if !utf16.IsSurrogate(rune(v1)) {
			return 6
		}
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0
		}
		v2, ok := hex4(b[8:12])
		if !ok || utf16.DecodeRune(rune(v1), rune(v2)) == utf8.RuneError {
			return 0
		}
		return 12
	}
	return 0
}

func hex4(b []byte) (uint16, bool) {
	var v uint16
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}

// num reads a number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *batchScanner) num() (n number, ok bool) {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		n.neg = true
		i++
	}
	switch {
	case i >= len(b):
		return n, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			n.digit(b[i])
		}
	default:
		return n, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			n.digit(b[i])
			n.exp--
		}
		if i == j {
			return n, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		j, e := i, 0
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if e < 100000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == j {
			return n, false
		}
		if eneg {
			e = -e
		}
		n.exp += e
	}
	s.i = i
	return n, true
}

func (s *batchScanner) literal(lit string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}

// scalar reads a string, number or literal and returns its raw bytes and
// kind as jsontext names it: '"', '0', 't', 'f' or 'n'.
func (s *batchScanner) scalar() (v []byte, kind byte, ok bool) {
	start := s.i
	switch c := s.peek(); c {
	case '"':
		_, _, ok = s.str()
		kind = '"'
	case 't':
		ok, kind = s.literal("true"), 't'
	case 'f':
		ok, kind = s.literal("false"), 'f'
	case 'n':
		ok, kind = s.literal("null"), 'n'
	default:
		_, ok = s.num()
		kind = '0'
	}
	return s.b[start:s.i], kind, ok
}

// skip reads and validates any value; level is the nesting level it has
// if it is an object or array.
func (s *batchScanner) skip(level int) bool {
	stack := s.stack[:0]
	defer func() { s.stack = stack[:0] }()
	for {
		// A value.
		switch s.peek() {
		case '{', '[':
			if level+len(stack) > maxBatchDepth {
				return false
			}
			open := s.b[s.i]
			s.i++
			s.ws()
			if open == '{' && s.eat('}') || open == '[' && s.eat(']') {
				break
			}
			stack = append(stack, open)
			if open == '{' && !s.name() {
				return false
			}
			continue
		default:
			if _, _, ok := s.scalar(); !ok {
				return false
			}
		}
		// After a value: close containers until one goes on or the value
		// is complete.
		for {
			if len(stack) == 0 {
				return true
			}
			s.ws()
			top := stack[len(stack)-1]
			if s.eat(',') {
				s.ws()
				if top == '{' && !s.name() {
					return false
				}
				break
			}
			if top == '{' && s.eat('}') || top == '[' && s.eat(']') {
				stack = stack[:len(stack)-1]
				continue
			}
			return false
		}
	}
}

// name reads an object member's name and colon, and the whitespace after.
func (s *batchScanner) name() bool {
	if _, _, ok := s.str(); !ok {
		return false
	}
	s.ws()
	if !s.eat(':') {
		return false
	}
	s.ws()
	return true
}

// Field codes of a reading besides its metrics (which are 0..NumMetrics-1).
const (
	fieldDeviceID = -1 - iota
	fieldSeq
	fieldTS
	fieldUnknown
)

// readingFields lists a reading's fields in the order gateways send them.
var readingFields = func() []int {
	f := []int{fieldDeviceID, fieldSeq, fieldTS}
	for _, m := range vibemon.AllMetrics() {
		f = append(f, int(m))
	}
	return f
}()

// readingFieldNames[i] is readingFields[i]'s name; fieldIndex maps a name
// to its index in readingFields.
var readingFieldNames, fieldIndex = func() ([]string, map[string]int) {
	names := make([]string, len(readingFields))
	index := make(map[string]int, len(readingFields))
	for i, f := range readingFields {
		switch f {
		case fieldDeviceID:
			names[i] = "device_id"
		case fieldSeq:
			names[i] = "seq"
		case fieldTS:
			names[i] = "ts"
		default:
			names[i] = vibemon.Metric(f).String()
		}
		index[names[i]] = i
	}
	return names, index
}()

// fieldName reads a reading's field name and returns it (unescaped) and
// its field code or metric. It tries the field after the previous one
// first, comparing the input's bytes before scanning them as a string:
// readings of one batch come from the same code and list their fields in
// the same order.
func (s *batchScanner) fieldName() (name []byte, f int, ok bool) {
	b, i, g := s.b, s.i, s.guess
	if want := readingFieldNames[g]; i+len(want)+2 <= len(b) && b[i] == '"' && b[i+1+len(want)] == '"' && string(b[i+1:i+1+len(want)]) == want {
		// A plain name: nothing in it needs more checking.
		name = b[i+1 : i+1+len(want)]
		s.i += len(want) + 2
	} else {
		raw, esc, ok := s.str()
		if !ok {
			return nil, 0, false
		}
		if name = raw; esc {
			name = unquoteRaw(raw)
		}
		var known bool
		if g, known = fieldIndex[string(name)]; !known {
			return name, fieldUnknown, true
		}
	}
	if s.guess = g + 1; s.guess == len(readingFields) {
		s.guess = 0
	}
	return name, readingFields[g], true
}

// element reads one element of readings: a reading object, or any other
// value, which is a rejected item.
func (s *batchScanner) element() (batchItem, bool) {
	if s.peek() != '{' {
		if !s.skip(readingLevel) {
			return batchItem{}, false
		}
		return batchItem{err: invalidf("A reading must be a JSON object.")}, true
	}
	return s.reading()
}

// str0 is a string over b's bytes without copying, for strconv and time
// parsers, which keep no reference to their input.
func str0(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// reading reads {"device_id":1,"seq":5,"ts":"RFC 3339",<metric>:number|null,...}
// with decodeReading's rules and messages: the first problem rejects the
// reading, and the rest of it is only validated as JSON.
func (s *batchScanner) reading() (batchItem, bool) {
	s.i++ // {
	s.ws()
	rd := vibemon.NewReading(0, 0, time.Time{})
	var haveID, haveSeq, haveTS bool
	var bad error
	var seen uint32 // bit per metric
	if !s.eat('}') {
		for {
			name, f, ok := s.fieldName()
			if !ok {
				return batchItem{}, false
			}
			s.ws()
			if !s.eat(':') {
				return batchItem{}, false
			}
			s.ws()
			if c := s.peek(); bad != nil || c == '{' || c == '[' {
				if bad == nil {
					bad = invalidf("%s must not be an object or array.", shortString(string(name)))
				}
				if !s.skip(readingLevel + 1) {
					return batchItem{}, false
				}
			} else {
				var v []byte
				var kind byte
				var num number
				if start := s.i; c == '-' || '0' <= c && c <= '9' {
					num, ok = s.num()
					v, kind = s.b[start:s.i], '0'
				} else {
					v, kind, ok = s.scalar()
				}
				if !ok {
					return batchItem{}, false
				}
				switch f {
				case fieldDeviceID, fieldSeq:
					n, perr := strconv.ParseInt(str0(v), 10, 64)
					switch {
					case f == fieldSeq && haveSeq || f == fieldDeviceID && haveID:
						bad = invalidf("%s appears twice.", string(name))
					case kind != '0' || perr != nil:
						bad = invalidf("%s must be an integer, not %s.", string(name), shortString(string(v)))
					case f == fieldSeq:
						rd.Seq, haveSeq = n, true
					default:
						rd.DeviceID, haveID = n, true
					}
				case fieldTS:
					if kind != '"' || haveTS {
						bad = invalidf("ts must be one RFC 3339 string, not %s.", shortString(string(v)))
						break
					}
					var t time.Time
					var perr error
					if raw := v[1 : len(v)-1]; bytes.IndexByte(raw, '\\') < 0 {
						t, perr = time.Parse(time.RFC3339Nano, str0(raw))
					} else {
						t, perr = time.Parse(time.RFC3339Nano, string(unquoteRaw(raw)))
					}
					if perr != nil {
						bad = invalidf("ts %s is not an RFC 3339 time.", shortString(string(v)))
						break
					}
					rd.TS, haveTS = t.UTC(), true
				case fieldUnknown:
					bad = invalidf("Unknown field %q: not a reading metric.", shortString(string(name)))
				default:
					switch {
					case seen&(1<<f) != 0:
						bad = invalidf("%s appears twice.", string(name))
					case kind == 'n':
						// not measured
					case kind != '0':
						bad = invalidf("%s must be a number, not %s.", string(name), shortString(string(v)))
					default:
						x, perr := num.float(v)
						if perr != nil {
							bad = invalidf("%s = %s is not a finite number.", string(name), shortString(string(v)))
						}
						rd.Values[f] = x
					}
					seen |= 1 << f
				}
			}
			s.ws()
			if s.eat(',') {
				s.ws()
				continue
			}
			if s.eat('}') {
				break
			}
			return batchItem{}, false
		}
	}
	switch {
	case bad != nil:
		return batchItem{err: bad}, true
	case !haveID:
		return batchItem{err: invalidf("device_id is required.")}, true
	case !haveSeq:
		return batchItem{err: invalidf("seq is required.")}, true
	case !haveTS:
		return batchItem{err: invalidf("ts is required.")}, true
	}
	return batchItem{reading: rd}, true
}
