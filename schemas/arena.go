package schemas

// arena holds bytes a decoder makes (unescaped JSON strings, integer text)
// for rows to point at. It is append-only: bytes handed out are never
// overwritten, so a caller may decode a whole batch of rows before using
// any of them. When the current chunk is full a new one is allocated and
// the old one lives on only while rows still point into it, which makes the
// cost one allocation per arenaChunk bytes made, and none for records that
// need no unescaping.
type arena struct{ buf []byte }

const arenaChunk = 64 << 10

// reserve makes room for n more bytes without reallocating buf.
func (a *arena) reserve(n int) {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(arenaChunk, n))
	}
}

// since returns the bytes appended after mark, capacity-limited so that
// appends by a holder cannot reach later bytes.
func (a *arena) since(mark int) []byte {
	return a.buf[mark:len(a.buf):len(a.buf)]
}
