package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/eidlink/eidlink/relyingparty"
)

func (e *env) verify(args []string) error {
	fs := e.newFlags("verify")
	origin := fs.String("origin", "", "the origin the token must be for")
	nonce := fs.String("nonce", "", "the challenge nonce that was issued")
	var cas multiFlag
	fs.Var(&cas, "ca", "PEM file of trusted CA certificates (repeatable)")
	dev := fs.Bool("dev", false, "accept http://localhost origins (developer mode)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *origin == "" || *nonce == "" || len(cas) == 0 || fs.NArg() > 1 {
		return usagef("verify needs --origin, --nonce, --ca and at most one token file")
	}
	roots, err := relyingparty.LoadCertPool(cas...)
	if err != nil {
		return err
	}
	v, err := relyingparty.New(relyingparty.Config{Roots: roots, AllowLoopbackHTTP: *dev})
	if err != nil {
		return err
	}
	var token []byte
	if name := fs.Arg(0); name != "" && name != "-" {
		token, err = os.ReadFile(name)
	} else {
		token, err = io.ReadAll(io.LimitReader(e.stdin, 1<<20))
	}
	if err != nil {
		return err
	}
	id, err := v.Verify(context.Background(), token, *origin, *nonce)
	if err != nil {
		return fmt.Errorf("the token is not valid: %w", err)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*relyingparty.Identity
		Subject string `json:"subject"`
		Issuer  string `json:"issuer"`
	}{id, id.Certificate.Subject.String(), id.Certificate.Issuer.String()})
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
