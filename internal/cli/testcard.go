package cli

import (
	"fmt"

	"github.com/eidlink/eidlink/internal/cryptoki"
)

func (e *env) testcard(args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return usagef("usage: eidlink testcard init --dir DIR [--type cie|cns] [--pin PIN] [--given-name NAME --surname NAME --cf CODICEFISCALE] [--key rsa2048|p256|p384]")
	}
	fs := e.newFlags("testcard init")
	var o cryptoki.TestCardOptions
	fs.StringVar(&o.Dir, "dir", "", "directory for the virtual card (created)")
	fs.StringVar((*string)(&o.Type), "type", "cie", "card kind: cie or cns")
	fs.StringVar(&o.PIN, "pin", "12345678", "the card's PIN")
	fs.StringVar(&o.GivenName, "given-name", "MARIO", "holder's given name")
	fs.StringVar(&o.Surname, "surname", "ROSSI", "holder's surname")
	fs.StringVar(&o.CodiceFiscale, "cf", "RSSMRA80A01H501U", "holder's codice fiscale")
	fs.StringVar(&o.KeyType, "key", "rsa2048", "key type: rsa2048, p256 or p384")
	if err := e.parse(fs, args[1:]); err != nil {
		return err
	}
	if o.Dir == "" || fs.NArg() > 0 {
		return usagef("testcard init needs --dir")
	}
	r, err := cryptoki.InitTestCard(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "eidlink: virtual %s card of %s (%s) in %s; trust anchor %s\n", r.Type, r.Holder, r.CodiceFiscale, r.Dir, r.CAFile)
	fmt.Fprintf(e.stderr, "eidlink: hint: eval \"$(eidlink testcard init ...)\" sets the environment below\n")
	_, err = fmt.Fprint(e.stdout, r.Exports())
	return err
}
