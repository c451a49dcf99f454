package service

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/pcsc/pcsctest"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
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

// Through the service, a login asked to wait for the card sends a
// cardRequest, and goes on when the virtual CNS is inserted into vpcd
// (the service polls the PKCS#11 slots, OpenSC here).
func TestServiceWaitsForTheCard(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	w := newWorld(t)
	home := t.TempDir()
	w.env = append(w.env, "EIDLINK_PKCS11_MODULE="+testenv.OpenSC, "SOFTHSM2_CONF=/nonexistent", "HOME="+home)
	w.startService(t)
	h := w.host(t)
	h.recv() // the version
	nonce := newNonce()
	h.send(strings.Replace(authenticateMsg(nonce), `"origin"`, `"waitForCard":60000,"origin"`, 1))
	var cr protocol.CardRequest
	if m := h.recv(); json.Unmarshal(m["cardRequest"], &cr) != nil || cr.Reason != protocol.CardReasonNoCard {
		t.Fatalf("want a cardRequest, got %s", mustJSON(m))
	}
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	if m := h.recv(); m["pinRequest"] == nil {
		t.Fatalf("want a PIN request once the card is in, got %s", mustJSON(m))
	}
	h.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	if m := h.recv(); m["signature"] == nil {
		t.Fatalf("want a token, got %s", mustJSON(m))
	}
	h.quit()
}
