package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/cie"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
)

const cieUsage = "usage: eidlink cie check [--reader NAME]"

// cie runs the native CIE driver's commands: check, the part of a login
// that spends no PIN try, with what the card answered (JSON on stdout).
func (e *env) cie(args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usagef(cieUsage)
	}
	fs := e.newFlags("cie check")
	only := fs.String("reader", "", "check only the card in this reader")
	if err := e.parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(cieUsage)
	}
	ctx := context.Background()
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		return err
	}
	defer pc.Release()
	readers, err := pc.ListReaders(ctx)
	if err != nil {
		return err
	}
	var reports []cie.Report
	for _, name := range readers {
		if *only != "" && name != *only {
			continue
		}
		h, err := pc.Connect(ctx, name)
		if err != nil {
			continue // empty reader
		}
		if atr, err := h.ATR(); err != nil || card.Identify(atr).Kind != eidcert.CIE {
			h.Disconnect()
			continue
		}
		c, err := cie.New(h)
		if err != nil {
			h.Disconnect()
			return err
		}
		r := c.Check()
		r.Reader = name
		c.Close()
		h.Disconnect()
		reports = append(reports, r)
	}
	if len(reports) == 0 {
		e.hint("lay the CIE on a contactless reader and keep it still")
		return errors.New("no CIE in the readers")
	}
	out, _ := json.MarshalIndent(reports, "", "  ")
	fmt.Fprintln(e.stdout, string(out))
	failed := false
	for _, r := range reports {
		for _, s := range r.Steps {
			if !s.OK {
				failed = true
				e.errorf("%s: %s: %s", r.Reader, s.Name, s.Error)
				e.hint("%s", s.Hint)
			}
		}
	}
	if failed {
		return errors.New("the CIE check failed")
	}
	return nil
}
