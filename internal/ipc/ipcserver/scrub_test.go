package ipc

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/gorilla/websocket"
)

// The host's write buffer holds no PIN once its frame is sent.
func TestWriteBufferIsCleared(t *testing.T) {
	got := make(chan []byte, 1)
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, _ := up.Upgrade(w, r, nil)
		_, b, _ := ws.ReadMessage()
		got <- b
		ws.Close()
	}))
	defer s.Close()
	pool := &recordingPool{}
	d := websocket.Dialer{WriteBufferPool: pool}
	ws, _, err := d.Dial("ws"+s.URL[4:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	msg := []byte(`{"command":"pin","arguments":{"pin":"` + testPIN + `"}}`)
	if err := (&writer{ws: ws}).write(msg); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, msg) {
		t.Fatalf("sent %q", b)
	}
	if pool.put == nil {
		t.Fatal("gorilla did not return the write buffer")
	}
	buf := reflect.ValueOf(pool.put).Field(0).Bytes()
	if len(buf) < len(msg) || bytes.ContainsAny(buf, "0123456789{") {
		t.Fatalf("the pooled write buffer (%d bytes) was not cleared: %q", len(buf), buf[:64])
	}
}

type recordingPool struct {
	zeroingPool
	put any
}

func (p *recordingPool) Put(v any) {
	p.zeroingPool.Put(v)
	p.put = v
}

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
