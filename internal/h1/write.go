package h1

import (
	"bufio"
	"io"
	"strconv"
)

// WriteStatusLine writes "HTTP/1.1 code reason\r\n". Portico answers in
// HTTP/1.1 whatever the client's minor version, as net/http does.
func WriteStatusLine(w *bufio.Writer, status int, reason []byte) {
	_, _ = w.WriteString("HTTP/1.1 ")
	_ = w.WriteByte(byte('0' + status/100))
	_ = w.WriteByte(byte('0' + status/10%10))
	_ = w.WriteByte(byte('0' + status%10))
	_ = w.WriteByte(' ')
	if len(reason) == 0 {
		_, _ = w.WriteString(StatusText(status))
	} else {
		_, _ = w.Write(reason)
	}
	_, _ = w.WriteString("\r\n")
}

// WriteField writes one "name: value\r\n".
func WriteField(w *bufio.Writer, name, value []byte) {
	_, _ = w.Write(name)
	_, _ = w.WriteString(": ")
	_, _ = w.Write(value)
	_, _ = w.WriteString("\r\n")
}

// WriteFieldString writes one "name: value\r\n" from strings.
func WriteFieldString(w *bufio.Writer, name, value string) {
	_, _ = w.WriteString(name)
	_, _ = w.WriteString(": ")
	_, _ = w.WriteString(value)
	_, _ = w.WriteString("\r\n")
}

// WriteContentLength writes "Content-Length: n\r\n".
func WriteContentLength(w *bufio.Writer, n int64) {
	_, _ = w.WriteString("Content-Length: ")
	// AvailableBuffer: formatting into the writer's own buffer allocates
	// nothing.
	_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), n, 10))
	_, _ = w.WriteString("\r\n")
}

// ChunkedWriter writes a chunked body to w.
type ChunkedWriter struct {
	W *bufio.Writer
}

// Write writes p as one chunk; an empty p writes nothing (a zero-size
// chunk would end the body).
func (c ChunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := c.W.Write(strconv.AppendInt(c.W.AvailableBuffer(), int64(len(p)), 16)); err != nil {
		return 0, err
	}
	_, _ = c.W.WriteString("\r\n")
	n, err := c.W.Write(p)
	if err != nil {
		return n, err
	}
	_, err = c.W.WriteString("\r\n")
	return n, err
}

// Close writes the last chunk and the trailer fields.
func (c ChunkedWriter) Close(trailers []Field) error {
	_, _ = c.W.WriteString("0\r\n")
	for i := range trailers {
		WriteField(c.W, trailers[i].Name, trailers[i].Value)
	}
	_, err := c.W.WriteString("\r\n")
	return err
}

// CopyBuffer copies src to dst with buf. When flush is set, w is flushed
// whenever src has nothing more buffered, so a stream reaches its reader
// as it is produced rather than when a buffer fills.
func CopyBuffer(dst io.Writer, src io.Reader, buf []byte, w *bufio.Writer, srcBuf interface{ Buffered() int }) (written int64, rerr, werr error) {
	for {
		n, err := src.Read(buf)
		if n > 0 {
			m, e := dst.Write(buf[:n])
			written += int64(m)
			if e != nil {
				return written, nil, e
			}
			if w != nil && srcBuf != nil && srcBuf.Buffered() == 0 {
				if e := w.Flush(); e != nil {
					return written, nil, e
				}
			}
		}
		if err == io.EOF {
			return written, nil, nil
		}
		if err != nil {
			return written, err, nil
		}
	}
}

// StatusText is the reason phrase of a status code.
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 103:
		return "Early Hints"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 417:
		return "Expectation Failed"
	case 426:
		return "Upgrade Required"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}
