package h1

import (
	"bufio"
	"io"
)

// Body errors. A broken request body is the client's fault (400); a broken
// response body is the node's (the client connection is cut).
var (
	ErrChunkSize    = errf(400, "malformed chunk size line")
	ErrChunkData    = errf(400, "chunk data does not end where its size says")
	ErrTrailer      = errf(400, "malformed trailer section")
	ErrBodyTooLarge = errf(413, "the request body is over the limit")
)

type bodyMode uint8

const (
	modeNone bodyMode = iota
	modeLength
	modeChunked
	modeUntilEOF
)

// maxChunkLine bounds a chunk size line with its extensions.
const maxChunkLine = 4096

// Body reads one message body off a connection's reader, strictly framed.
// It is reused: Reset sets it up for the next message.
type Body struct {
	br   *bufio.Reader
	mode bodyMode
	left int64 // bytes left: of the body (length mode) or of the chunk
	// limit bounds the body (0: none); past it, reads fail with
	// ErrBodyTooLarge.
	limit int64
	n     int64 // bytes returned so far
	done  bool
	err   error
	// Trailers of a chunked body, valid after io.EOF.
	Trailers []Field
	tbuf     []byte
	// BeforeRead, when set, runs once before the first read (to send
	// 100 Continue).
	BeforeRead func()
}

// ResetRequest frames the body of req, read from br.
func (b *Body) ResetRequest(br *bufio.Reader, req *Request, limit int64) {
	b.reset(br, limit)
	switch {
	case req.Chunked:
		b.mode = modeChunked
	case req.ContentLength > 0:
		b.mode, b.left = modeLength, req.ContentLength
	default:
		b.done = true
	}
}

// ResetResponse frames the body of resp, read from br.
func (b *Body) ResetResponse(br *bufio.Reader, resp *Response) {
	b.reset(br, 0)
	switch {
	case resp.NoBody:
		b.done = true
	case resp.Chunked:
		b.mode = modeChunked
	case resp.ContentLength > 0:
		b.mode, b.left = modeLength, resp.ContentLength
	case resp.ContentLength == 0:
		b.done = true
	default:
		b.mode = modeUntilEOF
	}
}

func (b *Body) reset(br *bufio.Reader, limit int64) {
	*b = Body{br: br, limit: limit, Trailers: b.Trailers[:0], tbuf: b.tbuf[:0]}
}

// SetLimit bounds the body: past limit bytes, reads fail with
// ErrBodyTooLarge.
func (b *Body) SetLimit(limit int64) { b.limit = limit }

// Done reports whether the body was read to its end without error.
func (b *Body) Done() bool { return b.done && b.err == nil }

// Empty reports whether the message has no body at all.
func (b *Body) Empty() bool { return b.mode == modeNone }

// Err is the error that ended the body, if any.
func (b *Body) Err() error { return b.err }

// N is the number of body bytes read so far.
func (b *Body) N() int64 { return b.n }

// Chunked reports whether the body is chunked on the wire.
func (b *Body) Chunked() bool { return b.mode == modeChunked }

// Read reads decoded body bytes.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, io.EOF
	}
	if b.BeforeRead != nil {
		f := b.BeforeRead
		b.BeforeRead = nil
		f()
	}
	var n int
	var err error
	switch b.mode {
	case modeLength:
		n, err = b.readLength(p)
	case modeChunked:
		n, err = b.readChunked(p)
	case modeUntilEOF:
		n, err = b.br.Read(p)
		if err == io.EOF {
			b.done = true
		}
	}
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		b.err = ErrBodyTooLarge
		return 0, b.err
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *Body) readLength(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		b.done = true
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *Body) readChunked(p []byte) (int, error) {
	if b.left == 0 {
		if err := b.chunkHeader(); err != nil {
			return 0, err
		}
		if b.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, err
	}
	if b.left == 0 {
		// The chunk's data must end with exactly CRLF.
		if err := b.expectCRLF(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (b *Body) expectCRLF() error {
	c1, err := b.br.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	c2, err := b.br.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if c1 != '\r' || c2 != '\n' {
		return ErrChunkData
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// chunkHeader reads "size [; ext] CRLF"; at the last chunk it reads the
// trailer section and marks the body done.
func (b *Body) chunkHeader() error {
	line, err := b.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return ErrChunkSize
	}
	if err != nil {
		return unexpected(err)
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return ErrChunkSize // a bare LF ends no chunk line
	}
	line = line[:len(line)-2]
	var size int64
	digits := 0
	for ; digits < len(line); digits++ {
		v := Unhex(line[digits])
		if v < 0 {
			break
		}
		if digits == 15 {
			return ErrChunkSize // over 2^60: no real chunk is that big
		}
		size = size<<4 | int64(v)
	}
	if digits == 0 {
		return ErrChunkSize
	}
	// No whitespace after the size: RFC 9112 allows some before ";", but
	// net/http does not, and the gateway must not read as a chunk what a
	// node may refuse.
	rest := line[digits:]
	if len(rest) > 0 {
		// chunk-ext: dropped, but it must be made of field characters.
		if rest[0] != ';' {
			return ErrChunkSize
		}
		for _, c := range rest {
			if !isFieldVChar[c] {
				return ErrChunkSize
			}
		}
	}
	if size > 0 {
		b.left = size
		return nil
	}
	return b.readTrailers()
}

func (b *Body) readTrailers() error {
	var err error
	b.tbuf, err = readTrailerLines(b.br, b.tbuf)
	if err != nil {
		return err
	}
	if b.Trailers, err = parseFields(b.tbuf, b.Trailers[:0]); err != nil {
		return ErrTrailer
	}
	b.done = true
	return nil
}

// readTrailerLines reads field lines up to the empty line, which must end
// in CRLF like every line of a chunked body.
func readTrailerLines(br *bufio.Reader, dst []byte) ([]byte, error) {
	dst = dst[:0]
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(dst)+len(line) > MaxHeadBytes {
			return dst, ErrTrailer
		}
		if err != nil {
			return dst, unexpected(err)
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return dst, ErrTrailer
		}
		if len(line) == 2 {
			return dst, nil
		}
		dst = append(dst, line...)
	}
}

// Unhex is the value of a hex digit, or -1.
func Unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Discard reads the rest of the body and throws it away, up to max bytes;
// it reports whether the body ended within them.
func (b *Body) Discard(max int64) bool {
	if b.done || b.mode == modeNone {
		return b.err == nil
	}
	if b.err != nil {
		return false
	}
	b.BeforeRead = nil // nobody waits for 100 Continue any more
	var buf [4096]byte
	for b.n <= max {
		_, err := b.Read(buf[:])
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}
