package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/protocol"
)

// unlock implements "eidlink unlock": the PIN, from the terminal or one
// line of stdin, unlocks the card in the user's service for the TLS
// signatures of eidlink's PKCS#11 module, as the extension does when the
// holder clicks a site's login.
func (e *env) unlock(args []string) error {
	fs := e.newFlags("unlock")
	origin := fs.String("origin", "", "the site the PIN is for, https://host[:port] (shown only)")
	wait := fs.Duration("wait", 0, "how long to wait for the card or reader (0: fail at once)")
	card := fs.String("card", "", "with several cards inserted, the one to unlock: its kind (cie, cns), its slot number or (part of) its label; without it, the only card inserted")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *wait < 0 || *wait > protocol.MaxCardWait*time.Millisecond {
		return usagef("usage: eidlink unlock [--card KIND|SLOT|LABEL] [--origin ORIGIN] [--wait DURATION]")
	}
	req, _ := json.Marshal(protocol.Request{Command: protocol.CmdUnlock,
		Arguments: mustMarshal(protocol.UnlockArgs{Origin: *origin, WaitForCard: int(*wait / time.Millisecond), Card: *card})})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	paths, err := ipc.PathsFor(ipc.DefaultName)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c, err := ipc.Dial(dctx, paths)
	cancel()
	if err != nil {
		e.hint("start it with \"eidlink service start\", or run it with \"eidlink service run\"")
		return fmt.Errorf("the eidlink service, which signs for eidlink's PKCS#11 module, does not answer: %w", err)
	}
	defer c.Close()
	context.AfterFunc(ctx, func() { c.Close() })
	if err := c.Send(req); err != nil {
		return err
	}
	res, err := e.talk(func(msg []byte) error {
		err := c.Send(msg)
		clear(msg)
		return err
	}, func() (json.RawMessage, error) { return c.Recv() })
	if err != nil {
		return err
	}
	var r protocol.UnlockResult
	if err := json.Unmarshal(res, &r); err != nil || r.Unlocked == nil {
		return fmt.Errorf("the service answered %q to unlock", res)
	}
	u := r.Unlocked
	_, err = fmt.Fprintf(e.stdout, "unlocked the %s card of %s for TLS client authentication: at most %d signatures within %d s\n",
		u.CardKind, u.Holder, u.Signatures, u.ExpiresIn)
	return err
}
