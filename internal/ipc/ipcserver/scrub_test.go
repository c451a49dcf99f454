package ipcserver

import (
	"bytes"
	"net"
	"testing"
)

func TestScrubConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := &scrubConn{Conn: b}
	c.arm()
	go a.Write([]byte(testPIN))
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	if string(buf[:n]) != testPIN {
		t.Fatalf("read %q", buf[:n])
	}
	c.scrub()
	if !bytes.Equal(buf, make([]byte, 16)) {
		t.Fatalf("scrub left %q", buf)
	}
}
