//go:build linux

package service

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
)

// TestNoPINTrace logs in with the real host on a SoftHSM2 card, through
// a service started before it and through one it starts, a wrong PIN first, then looks for both PINs
// (ASCII and UTF-16) everywhere the programs leave something: their debug
// logs, every file under the user's home, runtime, config, cache and temp
// directories and the card's, and the whole memory of the still-running
// host and service (/proc/PID/mem), the hosts' threads interrupted by
// signals all the while they relay the PINs (see interrupt). The PINs
// are random, so a match is a PIN, not chance. The same for "unlock", whose card stays logged in in
// the service after the PIN, and for the PIN a TLS signature asks at
// signing time (the tls-pin events, answered from another host).
func TestNoPINTrace(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		installed, unlock, tlsPIN bool
	}{{"on demand", false, false, false}, {"installed", true, false, false}, {"unlock", true, true, false}, {"tls-pin", true, false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			pin, wrong := randomDigits(t, 8), randomDigits(t, 8)
			w := newWorldPIN(t, pin)
			home := t.TempDir()
			for _, d := range []string{"HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "TMPDIR"} {
				dir := filepath.Join(home, strings.ToLower(d))
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				w.env = append(w.env, d+"="+dir)
			}
			type proc struct {
				name string
				pid  int
				log  func() string
			}
			var procs []proc
			if tc.installed {
				s := w.startService(t)
				procs = append(procs, proc{"service", s.cmd.Process.Pid, s.stderr.String})
			}
			h := w.host(t)
			h.recv() // the version
			procs = append(procs, proc{"host", h.cmd.Process.Pid, h.stderr.String})
			if st := h.status(); st.Mode != protocol.ModeService {
				t.Fatalf("the host works in mode %q", st.Mode)
			}
			if !tc.installed {
				pid, _ := w.onDemand(t)
				procs = append(procs, proc{"service", pid, func() string { _, log := w.onDemand(t); return log }})
			}
			nonce := newNonce()
			if tc.tlsPIN {
				a := tlsPINLogin(t, w, h, wrong, pin)
				procs = append(procs, proc{"answering host", a.cmd.Process.Pid, a.stderr.String})
				defer a.quit()
			} else if tc.unlock {
				h.send(`{"command":"unlock","arguments":{"origin":"` + testOrigin + `"}}`)
			} else {
				h.send(authenticateMsg(nonce))
			}
			var stopSignals func()
			if !tc.tlsPIN {
				stopSignals = interrupt(t, h.cmd.Process.Pid)
				if m := h.recv(); m["pinRequest"] == nil {
					t.Fatalf("want a PIN request, got %s", mustJSON(m))
				}
				h.send(`{"command":"pin","arguments":{"pin":"` + wrong + `"}}`)
				var req protocol.PINRequest
				json.Unmarshal(h.recv()["pinRequest"], &req)
				if req.Error == nil || req.Error.Code != protocol.CodePINIncorrect {
					t.Fatalf("after a wrong PIN: %+v", req)
				}
				h.send(`{"command":"pin","arguments":{"pin":"` + pin + `"}}`)
			}
			if tc.tlsPIN {
			} else if tc.unlock {
				if m := h.recv(); m["unlocked"] == nil {
					t.Fatalf("want the card unlocked, got %s", mustJSON(m))
				}
			} else if _, err := verifier(t, w.card).Verify(t.Context(), mustJSON(h.recv()), testOrigin, nonce); err != nil {
				t.Fatal(err)
			}
			if stopSignals != nil {
				stopSignals()
			}
			h.status()

			dirs := []string{home, filepath.Dir(w.card.SoftHSM2Conf)}
			for _, e := range w.env {
				if k, v, _ := strings.Cut(e, "="); k == "XDG_CONFIG_HOME" || k == "XDG_RUNTIME_DIR" {
					dirs = append(dirs, v)
				}
			}
			traces := 0
			for _, p := range procs {
				// The control: the holder's codice fiscale, from the
				// certificate the programs keep, must be found.
				if len(memoryTraces(t, p.pid, []byte("RSSMRA80A01H501U"))) == 0 {
					t.Fatalf("the scan of the %s's memory does not find the codice fiscale: it cannot see a PIN either", p.name)
				}
			}
			for _, secret := range []string{pin, wrong} {
				for form, b := range map[string][]byte{"ASCII": []byte(secret), "UTF-16": utf16le(secret)} {
					what := map[bool]string{true: "the PIN", false: "the wrong PIN"}[secret == pin] + " (" + form + ")"
					for _, p := range procs {
						for _, where := range memoryTraces(t, p.pid, b) {
							t.Errorf("%s in the %s's memory at %s", what, p.name, where)
							traces++
						}
						if bytes.Contains([]byte(p.log()), b) {
							t.Errorf("%s in the %s's log", what, p.name)
							traces++
						}
					}
					for _, d := range dirs {
						for _, f := range fileTraces(t, d, b) {
							t.Errorf("%s in the file %s", what, f)
							traces++
						}
					}
				}
			}
			t.Logf("PIN traces found: %d", traces)
			h.quit()
		})
	}
}

// interrupt sends SIGURG to each thread of process pid, again and again,
// until the returned function is called (at the latest at the end of t).
// The Go runtime takes it for preemption (and ignores it otherwise): a
// signal saves the registers of the thread it interrupts on that thread's
// signal stack, which nothing clears, so a PIN a register held when one
// came stays in memory. The runtime sends it itself only now and then
// (more often on a loaded machine): sent all the time, a PIN meets one in
// every run.
func interrupt(t *testing.T, pid int) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default: // to each thread: a signal to the process goes to one
				tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
				for _, task := range tasks {
					if tid, err := strconv.Atoi(task.Name()); err == nil {
						syscall.Tgkill(pid, tid, syscall.SIGURG)
					}
				}
			}
		}
	}()
	stop = sync.OnceFunc(func() { close(done); <-stopped })
	t.Cleanup(stop)
	return stop
}

// tlsPINLogin signs through eidlink's PKCS#11 module, loaded here, with
// nothing unlocked: h gets the tls-pin-request events, and a second host,
// which it returns, answers wrong, then pin, as the extension does.
func tlsPINLogin(t *testing.T, w *world, h *hostProc, wrong, pin string) *hostProc {
	lib := testenv.PKCS11Module(t)
	for _, e := range w.env { // the module finds the service as eidlink does
		if k, v, _ := strings.Cut(e, "="); k == "XDG_CONFIG_HOME" || k == "XDG_RUNTIME_DIR" || k == "HOME" {
			t.Setenv(k, v)
		}
	}
	signed := make(chan error, 1)
	go func() {
		di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, make([]byte, 32)...)
		_, err := testenv.PKCS11Sign(lib, pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), di)
		signed <- err
	}()
	var req protocol.TLSPINRequest
	json.Unmarshal(h.event(protocol.EventTLSPINRequest), &req)
	a := w.host(t)
	a.recv() // the version
	defer interrupt(t, a.cmd.Process.Pid)()
	for i, p := range []string{wrong, pin} {
		a.send(`{"command":"tls-pin","arguments":{"id":` + strconv.FormatUint(req.ID, 10) + `,"pin":"` + p + `"}}`)
		if m := a.recv(); len(m) != 0 {
			t.Fatalf("tls-pin: %s", mustJSON(m))
		}
		if i == 0 {
			var again protocol.TLSPINRequest
			if json.Unmarshal(h.event(protocol.EventTLSPINRequest), &again); again.PINRequest == nil || again.PINRequest.Error == nil {
				t.Fatalf("after a wrong PIN: %+v", again)
			}
		}
	}
	var res protocol.TLSPINResult
	if json.Unmarshal(h.event(protocol.EventTLSPINResult), &res); !res.OK {
		t.Fatalf("tls-pin-result %+v", res)
	}
	if err := <-signed; err != nil {
		t.Fatal(err)
	}
	return a
}

func randomDigits(t *testing.T, n int) string {
	var b strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(d.String())
	}
	return b.String()
}

func utf16le(s string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

// memoryTraces reads every readable mapping of process pid and returns
// where pattern occurs: address, mapping and its name.
func memoryTraces(t *testing.T, pid int, pattern []byte) []string {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var found []string
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[1][0] != 'r' {
			continue
		}
		name := ""
		if len(f) > 5 {
			name = f[5]
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end > 1<<62 || strings.HasPrefix(name, "[vvar") {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		for off := 0; ; {
			i := bytes.Index(buf[off:n], pattern)
			if i < 0 {
				break
			}
			at := off + i
			// Where in its mapping, and what surrounds it, to tell which
			// buffer held it.
			found = append(found, fmt.Sprintf("0x%x (%s %s %s, offset 0x%x in the mapping, 0x%x in the page)\n%s",
				start+uint64(at), f[0], f[1], name, at, (start+uint64(at))&0xfff,
				hex.Dump(buf[max(0, at-64):min(n, at+64)])))
			off = at + 1
		}
	}
	return found
}

// fileTraces returns the files under dir that contain pattern.
func fileTraces(t *testing.T, dir string, pattern []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p == dir && errors.Is(err, fs.ErrNotExist) {
			return nil // the programs did not make it
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, pattern) {
			found = append(found, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
