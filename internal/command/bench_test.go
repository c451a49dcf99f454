package command_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/protocol"
)

// BenchmarkAuthenticate is a whole in-process authenticate on a SoftHSM2
// virtual card: open the token, PIN conversation, login, sign, token.
// Compare with token's BenchmarkRawSign, a bare C_Sign on the same kind of
// token.
func BenchmarkAuthenticate(b *testing.B) {
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(b.TempDir(), "card")})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range card.Env {
		b.Setenv(e.Name, e.Value)
	}
	p := cryptoki.NewProvider(cryptoki.Config{})
	defer p.Close()
	in := make(chan protocol.Input)
	out := make(chan []byte, 1)
	go command.Serve(context.Background(), command.Config{Provider: command.Cards[*cryptoki.Card](p), Version: "1"}, in, func(v any) error {
		msg, err := json.Marshal(v)
		out <- msg
		return err
	})
	auth := `{"command":"authenticate","arguments":{"challengeNonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","origin":"https://www.inps.it"}}`
	for b.Loop() {
		in <- protocol.Input{Msg: []byte(auth)}
		<-out // PIN request
		in <- protocol.Input{Msg: []byte(`{"command":"pin","arguments":{"pin":"12345678"}}`)}
		var tok struct{ Signature string }
		if json.Unmarshal(<-out, &tok); tok.Signature == "" {
			b.Fatal("no token")
		}
	}
	close(in)
}
