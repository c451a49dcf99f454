package service

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/host/pcsc/pcsctest"
	"github.com/eidlink/eidlink/host/protocol"
)

// A wedged pcscd (it accepts connections and never answers) holds no
// client of the service hostage: two hosts get their status, which says
// so, a login on a software token completes, and SIGTERM stops the
// service.
func TestServiceWithPCSCWedged(t *testing.T) {
	w := newWorld(t)
	w.env = append(w.env, pcsctest.Env+"="+pcsctest.Wedged(t))
	s := w.startService(t)
	a, b := w.host(t), w.host(t)
	a.recv() // the version
	b.recv()
	a.send(`{"command":"status"}`)
	b.send(`{"command":"status"}`)
	for _, h := range []*hostProc{a, b} {
		var st protocol.Status
		m := mustJSON(h.recv())
		json.Unmarshal(m, &st)
		if st.Mode != "service" || !strings.Contains(st.PCSC, "not answering") {
			t.Fatalf("status with pcscd wedged: %s", m)
		}
	}
	b.login(w, verifier(t, w.card))
	a.quit()
	b.quit()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the service did not stop on SIGTERM: %s", s.stderr.String())
	}
}
