package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
)

// pipedHost runs ServeHost on pipes, as a browser runs eidlink-host.
type pipedHost struct {
	t    *testing.T
	in   *io.PipeWriter
	msgs chan []byte
	done chan error
}

func startPipedHost(t *testing.T, p command.Provider, dial func(context.Context) (*ipc.Conn, error)) *pipedHost {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &pipedHost{t: t, in: inW, msgs: make(chan []byte), done: make(chan error, 1)}
	cfg := command.Config{Provider: p, Version: protocol.Version}
	go func() {
		h.done <- ServeHost(ctx, cfg, dial, inR, outW)
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

func (h *pipedHost) recv() map[string]json.RawMessage {
	h.t.Helper()
	m, err := nextAnswer(h.msgs)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// Pipelined requests, sent without waiting for answers, each get exactly
// one answer, in order, through the service as in-process. Every other
// request is an unknown command named after its index, so the error that
// answers it says which request it answers.
func TestPipelinedRequests(t *testing.T) {
	// Answers of a few KiB, like a real status with readers and tokens:
	// enough to fill the socket buffers between host and service.
	p := bigStatus{command.Cards[*cryptoki.Card](cryptoki.NewProvider(cryptoki.Config{Modules: []cryptoki.Module{}}))}
	ts := startService(t, p, nil, "")
	const n = 1000
	for _, mode := range []string{"service", "in-process"} {
		t.Run(mode, func(t *testing.T) {
			dial := func(ctx context.Context) (*ipc.Conn, error) { return ipc.Dial(ctx, ts.paths) }
			if mode == "in-process" {
				dial = func(context.Context) (*ipc.Conn, error) { return nil, errors.New("no service") }
			}
			h := startPipedHost(t, p, dial)
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
				if e, ok := errCode(m); !ok || e.Code != protocol.CodeUnknownCommand || e.Message != fmt.Sprintf("unknown command %q", fmt.Sprint("x", i)) {
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
