package command

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"testing"

	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
)

func frames(msgs ...string) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		nativemsg.Write(&b, []byte(m))
	}
	return b.Bytes()
}

func readAll(t *testing.T, out []byte) []map[string]json.RawMessage {
	t.Helper()
	r := nativemsg.NewReader(bytes.NewReader(out), nativemsg.MaxOutgoing)
	var msgs []map[string]json.RawMessage
	for {
		b, err := r.Read()
		if err == io.EOF {
			return msgs
		}
		if err != nil {
			t.Fatalf("host wrote a bad frame: %v", err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("host wrote invalid JSON %q", b)
		}
		msgs = append(msgs, m)
	}
}

func code(m map[string]json.RawMessage) protocol.Code {
	var e protocol.Error
	json.Unmarshal(m["error"], &e)
	return e.Code
}

func TestServeStream(t *testing.T) {
	in := frames(`{"command":"status"}`, `{"command":"nope"}`)
	in = append(in, 0, 0, 0, 0) // empty frame: answered, reading goes on
	in = append(in, frames(`{"command":"quit"}`, `{"command":"status"}`)...)
	var out bytes.Buffer
	if err := ServeStream(context.Background(), Config{Provider: &fakeProvider{card: newFakeCard(t)}, Version: "1.2.3"}, bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	msgs := readAll(t, out.Bytes())
	if len(msgs) != 5 {
		t.Fatalf("got %d messages, want version, status, 2 errors, quit", len(msgs))
	}
	if string(msgs[0]["version"]) != `"1.2.3"` || msgs[1]["tokens"] == nil || code(msgs[2]) != protocol.CodeUnknownCommand ||
		code(msgs[3]) != protocol.CodeMalformedMessage || len(msgs[4]) != 0 {
		t.Fatalf("messages: %v", msgs)
	}
}

func TestServeStreamOversizedFrame(t *testing.T) {
	in := binary.LittleEndian.AppendUint32(nil, 1<<31)
	in = append(in, frames(`{"command":"status"}`)...)
	var out bytes.Buffer
	if err := ServeStream(context.Background(), Config{Provider: &fakeProvider{card: newFakeCard(t)}, Version: "1.2.3"}, bytes.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	msgs := readAll(t, out.Bytes())
	if len(msgs) != 2 || code(msgs[1]) != protocol.CodeMessageTooLarge {
		t.Fatalf("messages: %v", msgs)
	}
}

func TestServeStreamEvents(t *testing.T) {
	events := make(chan protocol.EventMessage, 1)
	events <- protocol.EventMessage{Event: "card-inserted"}
	pr, pw := io.Pipe()
	var out syncBuffer
	done := make(chan error)
	go func() {
		cfg := Config{Provider: &fakeProvider{card: newFakeCard(t)}, Version: "1",
			Events: func(context.Context) <-chan protocol.EventMessage { return events }}
		done <- ServeStream(context.Background(), cfg, pr, &out)
	}()
	out.wait(func(b []byte) bool { return bytes.Contains(b, []byte("card-inserted")) })
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// FuzzServeStream feeds arbitrary bytes to the host: it must answer with
// well-formed frames and never panic.
func FuzzServeStream(f *testing.F) {
	f.Add(frames(`{"command":"status"}`))
	f.Add(frames(authMsg, `{"command":"pin","arguments":{"pin":"12345678"}}`))
	f.Add(frames(authMsg, `{"command":"pin","arguments":{"pin":"\u0000"}}`, `{"command":"cancel"}`))
	f.Add(frames(`{"command":"sign","arguments":{"certificate":"AAAA","hash":"AAAA","hashFunction":"SHA-256","origin":"https://a.it"}}`))
	f.Add([]byte{5, 0, 0, 0, '{', '}'})
	f.Add(frames(`{"command":"status","command":"quit"}`, `{"command":"status","arguments":{"x":1}}`))
	f.Add(frames(authMsg, `{"command":"pin","arguments":{"pin":"11111111","pin":"12345678"}}`, `{"command":"cancel","arguments":"x"}`))
	f.Add(frames(`{"command":"authenticate","arguments":{"challengeNonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==","origin":"https://a.it:65536","Origin":"https://a.it"}}`))
	card := newFakeCard(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		card.tries = 3
		var out bytes.Buffer
		ServeStream(context.Background(), Config{Provider: &fakeProvider{card: card}, Version: "1"}, bytes.NewReader(in), &out)
		readAll(t, out.Bytes())
	})
}

// An empty frame is answered in its turn: after the answer to the command
// before it, however long that command takes. The status here is held
// until the host has read every frame, so an error written as soon as the
// frame is read would come first.
func TestServeStreamAnswersInOrder(t *testing.T) {
	release := make(chan struct{})
	cfg := Config{Provider: &fakeProvider{card: newFakeCard(t)}, Version: "1",
		Status: func(context.Context, *protocol.Status) { <-release }}
	pr, pw := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- ServeStream(context.Background(), cfg, pr, &out) }()
	pw.Write(frames(`{"command":"status"}`))
	pw.Write([]byte{0, 0, 0, 0})
	pw.Write(frames(`{"command":"nope"}`)) // returns once the host read it: the empty frame is behind it
	close(release)
	out.wait(func(b []byte) bool { return bytes.Contains(b, []byte("nope")) })
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	msgs := readAll(t, out.bytes())
	if len(msgs) != 4 || msgs[1]["mode"] == nil || code(msgs[2]) != protocol.CodeMalformedMessage || code(msgs[3]) != protocol.CodeUnknownCommand {
		t.Fatalf("answers out of order: %v", msgs)
	}
}
