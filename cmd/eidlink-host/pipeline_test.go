package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/service"
)

// pipedHost runs serve on pipes, as a browser runs eidlink-host.
type pipedHost struct {
	t    *testing.T
	in   *io.PipeWriter
	msgs chan []byte
	done chan error
}

func startPipedHost(t *testing.T, dial func(context.Context) (*ipc.Conn, error)) *pipedHost {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &pipedHost{t: t, in: inW, msgs: make(chan []byte), done: make(chan error, 1)}
	go func() {
		if err := hello(outW); err != nil {
			h.done <- err
			return
		}
		h.done <- serve(ctx, slog.New(slog.DiscardHandler), dial, inR, outW)
		outW.Close()
	}()
	go func() {
		defer close(h.msgs)
		r := nativemsg.NewReader(outR, nativemsg.MaxOutgoing)
		for {
			b, err := r.Read()
			if err != nil {
				return
			}
			h.msgs <- b
		}
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		for range h.msgs {
		}
		<-h.done
	})
	return h
}

// recv returns the next message that is not an event.
func (h *pipedHost) recv() map[string]json.RawMessage {
	h.t.Helper()
	for {
		select {
		case b, ok := <-h.msgs:
			if !ok {
				h.t.Fatal("the host closed its output")
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				h.t.Fatalf("host wrote %q", b)
			}
			if m["event"] == nil {
				return m
			}
		case <-time.After(15 * time.Second):
			h.t.Fatal("no answer from the host in 15 s")
		}
	}
}

// inProcessService runs the service in this process with provider p, on
// a socket in a temporary directory, and returns its paths.
func inProcessService(t *testing.T, p command.Provider) ipc.Paths {
	t.Helper()
	dir := t.TempDir()
	paths := ipc.Paths{Secret: filepath.Join(dir, "config", "service.key"), Endpoint: ipc.Endpoint{Network: "unix", Address: filepath.Join(dir, "run", "service.sock")}, Run: filepath.Join(dir, "run")}
	srv, err := service.Listen(service.Config{Command: command.Config{Provider: p, Version: protocol.Version}, Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(t.Context()) }() // until the test ends
	t.Cleanup(func() {
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return paths
}

// Pipelined requests, sent without waiting for answers, each get exactly
// one answer, in order, through the service, and from the host alone
// when no service answers. Every other request is an unknown command
// named after its index, so the error that answers it says which request
// it answers (through the service).
func TestPipelinedRequests(t *testing.T) {
	// Answers of a few KiB, like a real status with readers and tokens:
	// enough to fill the socket buffers between host and service.
	p := bigStatus{command.Cards[*cryptoki.Card](cryptoki.NewProvider(cryptoki.Config{Modules: []cryptoki.Module{}}))}
	paths := inProcessService(t, p)
	const n = 1000
	for _, mode := range []string{protocol.ModeService, protocol.ModeNoService} {
		t.Run(mode, func(t *testing.T) {
			dial := func(ctx context.Context) (*ipc.Conn, error) { return ipc.Dial(ctx, paths) }
			if mode == protocol.ModeNoService {
				dial = func(context.Context) (*ipc.Conn, error) { return nil, errors.New("no service") }
			}
			h := startPipedHost(t, dial)
			h.recv() // version
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					msg := `{"command":"status"}`
					if i%2 == 1 {
						msg = fmt.Sprintf(`{"command":"x%d"}`, i)
					}
					if err := nativemsg.Write(h.in, []byte(msg)); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			for i := range n {
				m := h.recv()
				if i%2 == 0 {
					var st protocol.Status
					if err := json.Unmarshal(mustJSON(m), &st); err != nil || st.Mode != mode {
						t.Fatalf("answer %d: %s, want a status in mode %s", i, mustJSON(m), mode)
					}
					continue
				}
				if mode == protocol.ModeNoService {
					if errCode(m) != protocol.CodeServiceUnavailable {
						t.Fatalf("answer %d: %s, want %s", i, mustJSON(m), protocol.CodeServiceUnavailable)
					}
					continue
				}
				var e protocol.Error
				if json.Unmarshal(m["error"], &e) != nil || e.Code != protocol.CodeUnknownCommand || e.Message != fmt.Sprintf("unknown command %q", fmt.Sprint("x", i)) {
					t.Fatalf("answer %d: %s, want the error for x%d", i, mustJSON(m), i)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d pipelined requests, %d answers in order", mode, n, n)
		})
	}
}

// bigStatus reports many modules.
type bigStatus struct{ command.Provider }

func (bigStatus) Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	ms := make([]protocol.ModuleStatus, 30)
	for i := range ms {
		ms[i] = protocol.ModuleStatus{Name: fmt.Sprint("module ", i), Path: fmt.Sprintf("/usr/lib/x86_64-linux-gnu/pkcs11/module-%d-with-a-long-name.so", i), Source: "builtin"}
	}
	return ms, []protocol.TokenStatus{}
}
