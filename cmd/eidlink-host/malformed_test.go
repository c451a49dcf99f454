package main

import (
	"encoding/binary"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/protocol"
)

// malformed is one bad input for the host: in is written to its stdin as
// it is (use frame for framed messages).
type malformed struct {
	name string
	in   []byte
	want protocol.Code
	eof  bool          // close stdin after in (a truncated frame)
	then protocol.Code // closing: the code of a second answer, for the rest of the stream
}

func frame(msg string) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

func frameOf(n uint32, body string) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, n), body...)
}

func msg(name, m string, want protocol.Code) malformed {
	return malformed{name: name, in: frame(m), want: want}
}

func authArgs(args string) string { return `{"command":"authenticate","arguments":` + args + `}` }

func auth(origin, nonce string) string {
	return authArgs(`{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}`)
}

func signArgs(cert, hash, hashFunction string) string {
	return `{"command":"sign","arguments":{"certificate":"` + cert + `","hash":"` + hash + `","hashFunction":"` + hashFunction + `","origin":"` + origin + `"}}`
}

// resynchronisable: each gets exactly one error answer and the host goes
// on serving (the next message is a status that must succeed).
func resynchronisable() []malformed {
	const (
		bad   = protocol.CodeMalformedMessage
		cmd   = protocol.CodeUnknownCommand
		arg   = protocol.CodeInvalidArgument
		unexp = protocol.CodeUnexpectedPIN
	)
	huge := strings.Repeat("A", 60<<10)
	deep := strings.Repeat("[", 30000) + strings.Repeat("]", 30000)
	hash32 := "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	return []malformed{
		// not JSON, or not one JSON object
		msg("truncated JSON", `{"command":`, bad),
		msg("open brace", `{`, bad),
		msg("close brace", `}`, bad),
		msg("text", `not json`, bad),
		msg("unclosed object", `{"command":"status"`, bad),
		msg("extra brace", `{"command":"status"}}`, bad),
		msg("two objects", `{"command":"status"} {"command":"status"}`, bad),
		msg("single quotes", `{'command':'status'}`, bad),
		msg("trailing comma", `{"command":"status",}`, bad),
		msg("bare key", `{command:"status"}`, bad),
		msg("array", `[]`, bad),
		msg("array of the message", `[{"command":"status"}]`, bad),
		msg("string", `"status"`, bad),
		msg("null", `null`, bad),
		msg("number", `123`, bad),
		msg("true", `true`, bad),
		msg("empty object", `{}`, bad),
		msg("spaces", `    `, bad),
		msg("comment", `{"command":"status"} // hi`, bad),
		msg("NaN", `{"command":"status","arguments":NaN}`, bad),
		msg("deep nesting", `{"command":"status","arguments":`+deep+`}`, bad),
		{name: "zero-length frame", in: frameOf(0, ""), want: bad},
		// bytes that are not UTF-8 JSON text
		msg("invalid UTF-8 outside strings", "\xff{\"command\":\"status\"}", bad),
		msg("UTF-8 BOM", "\xef\xbb\xbf{\"command\":\"status\"}", bad),
		msg("UTF-16", "{\x00\"\x00c\x00\"\x00}\x00", bad),
		msg("NUL after the object", "{\"command\":\"status\"}\x00", bad),
		msg("NUL bytes only", "\x00\x00\x00\x00", bad),
		msg("raw NUL in a string", "{\"command\":\"sta\x00tus\"}", bad),
		msg("raw newline in a string", "{\"command\":\"sta\ntus\"}", bad),
		// wrong types, missing or unknown fields
		msg("command null", `{"command":null}`, bad),
		msg("command empty", `{"command":""}`, bad),
		msg("command number", `{"command":123}`, bad),
		msg("command array", `{"command":["status"]}`, bad),
		msg("command object", `{"command":{"name":"status"}}`, bad),
		msg("command true", `{"command":true}`, bad),
		msg("arguments only", `{"arguments":{}}`, bad),
		msg("unknown field", `{"command":"status","extra":1}`, bad),
		msg("Command", `{"Command":"status"}`, bad),
		msg("COMMAND", `{"COMMAND":"status"}`, bad),
		msg("duplicate command", `{"command":"status","command":"quit"}`, bad),
		msg("duplicate command, escaped", `{"command":"status","\u0063ommand":"quit"}`, bad),
		msg("duplicate arguments", `{"command":"status","arguments":{},"arguments":{}}`, bad),
		msg("duplicate key deep inside", `{"command":"status","arguments":{"x":[{"a":1,"a":2}]}}`, bad),
		// unknown commands
		msg("unknown command", `{"command":"nope"}`, cmd),
		msg("STATUS", `{"command":"STATUS"}`, cmd),
		msg("Status", `{"command":"Status"}`, cmd),
		msg("trailing space", `{"command":"status "}`, cmd),
		msg("leading space", `{"command":" status"}`, cmd),
		msg("escaped NUL in the command", `{"command":"authenticate\u0000"}`, cmd),
		msg("huge command", `{"command":"`+huge+`"}`, cmd),
		msg("page action name", `{"command":"web-eid:authenticate"}`, cmd),
		msg("path", `{"command":"../../etc/passwd"}`, cmd),
		msg("lone surrogate", `{"command":"\ud800"}`, cmd),
		msg("invalid UTF-8 in the command", "{\"command\":\"st\xffatus\"}", cmd),
		// PIN messages out of turn
		msg("pin without a PIN request", `{"command":"pin","arguments":{"pin":"12345678"}}`, unexp),
		msg("cancel without a PIN request", `{"command":"cancel"}`, unexp),
		msg("pin without arguments", `{"command":"pin"}`, unexp),
		msg("pin with a string argument", `{"command":"pin","arguments":"1234"}`, unexp),
		// commands that take no arguments
		msg("status with a string argument", `{"command":"status","arguments":"x"}`, arg),
		msg("status with arguments", `{"command":"status","arguments":{"x":1}}`, arg),
		msg("quit with arguments", `{"command":"quit","arguments":[1]}`, arg),
		// authenticate: arguments
		msg("authenticate without arguments", `{"command":"authenticate"}`, arg),
		msg("authenticate, arguments null", authArgs(`null`), arg),
		msg("authenticate, arguments a string", authArgs(`"x"`), arg),
		msg("authenticate, arguments an array", authArgs(`[]`), arg),
		msg("authenticate, arguments a number", authArgs(`7`), arg),
		msg("authenticate, arguments nested deep", authArgs(strings.Repeat("[", 5000)+strings.Repeat("]", 5000)), arg),
		msg("authenticate, no origin", authArgs(`{"challengeNonce":"`+nonce+`"}`), arg),
		msg("authenticate, no nonce", authArgs(`{"origin":"`+origin+`"}`), arg),
		msg("authenticate, origin a number", authArgs(`{"challengeNonce":"`+nonce+`","origin":443}`), arg),
		msg("authenticate, nonce a number", authArgs(`{"challengeNonce":1,"origin":"`+origin+`"}`), arg),
		msg("authenticate, origin null", authArgs(`{"challengeNonce":"`+nonce+`","origin":null}`), arg),
		msg("authenticate, unknown argument", authArgs(`{"challengeNonce":"`+nonce+`","origin":"`+origin+`","extra":1}`), arg),
		msg("authenticate, Origin", authArgs(`{"challengeNonce":"`+nonce+`","Origin":"`+origin+`"}`), arg),
		msg("authenticate, ORIGIN", authArgs(`{"challengeNonce":"`+nonce+`","ORIGIN":"`+origin+`"}`), arg),
		msg("authenticate, duplicate origin", authArgs(`{"challengeNonce":"`+nonce+`","origin":"https://evil.example","origin":"`+origin+`"}`), bad),
		msg("authenticate, lang too long", authArgs(`{"challengeNonce":"`+nonce+`","origin":"`+origin+`","lang":"`+strings.Repeat("i", 17)+`"}`), arg),
		msg("authenticate, lang with a semicolon", authArgs(`{"challengeNonce":"`+nonce+`","origin":"`+origin+`","lang":"it;rm"}`), arg),
		msg("authenticate, lang a number", authArgs(`{"challengeNonce":"`+nonce+`","origin":"`+origin+`","lang":39}`), arg),
		// authenticate: origins
		msg("origin port 65536", auth("https://serviziweb2.inps.it:65536", nonce), arg),
		msg("origin port 99999", auth("https://serviziweb2.inps.it:99999", nonce), arg),
		msg("origin port 0", auth("https://serviziweb2.inps.it:0", nonce), arg),
		msg("origin port 443", auth("https://serviziweb2.inps.it:443", nonce), arg),
		msg("origin port +443", auth("https://serviziweb2.inps.it:+443", nonce), arg),
		msg("origin port 0443", auth("https://serviziweb2.inps.it:0443", nonce), arg),
		msg("origin empty port", auth("https://serviziweb2.inps.it:", nonce), arg),
		msg("origin javascript:", auth("javascript:alert(1)", nonce), arg),
		msg("origin null", auth("null", nonce), arg),
		msg("origin empty", auth("", nonce), arg),
		msg("origin http", auth("http://serviziweb2.inps.it", nonce), arg),
		msg("origin http localhost without developer mode", auth("http://localhost:8080", nonce), arg),
		msg("origin upper case", auth("https://SERVIZIWEB2.INPS.IT", nonce), arg),
		msg("origin with a path", auth(origin+"/login", nonce), arg),
		msg("origin with a slash", auth(origin+"/", nonce), arg),
		msg("origin with user info", auth("https://user@serviziweb2.inps.it", nonce), arg),
		msg("origin file:", auth("file:///etc/passwd", nonce), arg),
		msg("origin chrome-extension:", auth("chrome-extension://abcdefghijklmnop", nonce), arg),
		msg("origin huge", auth("https://"+huge+".it", nonce), arg),
		msg("origin with an escaped NUL", auth(`https://a.it\u0000.evil.example`, nonce), arg),
		msg("origin not in punycode", auth("https://bücher.example", nonce), arg),
		msg("origin IPv4-mapped IPv6", auth("https://[::ffff:127.0.0.1]", nonce), arg),
		// authenticate: nonces
		msg("nonce of 31 bytes", auth(origin, strings.Repeat("A", 42)+"=="), arg),
		msg("nonce of 40 characters", auth(origin, strings.Repeat("A", 40)), arg),
		msg("nonce of 132 characters", auth(origin, strings.Repeat("A", 132)), arg),
		msg("nonce in the URL alphabet", auth(origin, strings.Repeat("-", 43)+"="), arg),
		msg("nonce without padding", auth(origin, strings.Repeat("A", 43)), arg),
		msg("nonce with a line break", auth(origin, nonce[:20]+`\n`+nonce[20:]), arg),
		msg("nonce of spaces", auth(origin, strings.Repeat(" ", 44)), arg),
		msg("nonce huge", auth(origin, huge), arg),
		// get-signing-certificate and sign
		msg("get-signing-certificate without arguments", `{"command":"get-signing-certificate"}`, arg),
		msg("get-signing-certificate, origin port 65536", `{"command":"get-signing-certificate","arguments":{"origin":"https://a.it:65536"}}`, arg),
		msg("sign without a certificate", `{"command":"sign","arguments":{"hash":"`+hash32+`","hashFunction":"SHA-256","origin":"`+origin+`"}}`, arg),
		msg("sign, certificate not base64", signArgs("not base64!", hash32, "SHA-256"), arg),
		msg("sign, certificate not DER", signArgs("AAAA", hash32, "SHA-256"), arg),
		msg("sign, hash function MD5", signArgs("AAAA", hash32, "MD5"), arg),
		msg("sign, hash function in lower case", signArgs("AAAA", hash32, "sha-256"), arg),
		msg("sign, hash of the wrong length", signArgs("AAAA", "AAAA", "SHA-256"), arg),
		msg("sign, hash not base64", signArgs("AAAA", "%%%%", "SHA-256"), arg),
	}
}

// duringPIN: sent while a PIN request is pending. Each gets one answer
// (an error, or a new PIN request carrying the error) and the request
// stays pending, with no PIN try used.
func duringPIN() []malformed {
	const (
		bad = protocol.CodeMalformedMessage
		arg = protocol.CodeInvalidArgument
		fmt = protocol.CodePINFormat
	)
	return []malformed{
		msg("status with arguments during a PIN request", `{"command":"status","arguments":{"x":1}}`, arg),
		msg("authenticate during a PIN request", auth(origin, nonce), protocol.CodeBusy),
		msg("unknown command during a PIN request", `{"command":"nope"}`, protocol.CodeBusy),
		msg("not JSON during a PIN request", `not json`, bad),
		{name: "zero-length frame during a PIN request", in: frameOf(0, ""), want: bad},
		msg("pin without arguments", `{"command":"pin"}`, arg),
		msg("pin a number", `{"command":"pin","arguments":{"pin":12345678}}`, arg),
		msg("pin null", `{"command":"pin","arguments":{"pin":null}}`, arg),
		msg("pin arguments a string", `{"command":"pin","arguments":"12345678"}`, arg),
		msg("PIN key", `{"command":"pin","arguments":{"PIN":"12345678"}}`, arg),
		msg("two pins", `{"command":"pin","arguments":{"pin":"11111111","pin":"22222222"}}`, bad),
		msg("pin with an unknown field", `{"command":"pin","arguments":{"pin":"12345678","x":1}}`, arg),
		msg("pin not ASCII", `{"command":"pin","arguments":{"pin":"1234567è"}}`, arg),
		msg("pin with an escape", `{"command":"pin","arguments":{"pin":"1234567\u0038"}}`, arg),
		msg("pin of 65 digits", `{"command":"pin","arguments":{"pin":"`+strings.Repeat("1", 65)+`"}}`, arg),
		msg("cancel with arguments", `{"command":"cancel","arguments":"now"}`, arg),
		msg("pin too short", `{"command":"pin","arguments":{"pin":"123"}}`, fmt),
		msg("pin of letters", `{"command":"pin","arguments":{"pin":"abcdefgh"}}`, fmt),
		msg("pin too long for the card", `{"command":"pin","arguments":{"pin":"1234567890"}}`, fmt),
	}
}

// closing: framing errors after which the stream cannot be resynchronised:
// the host answers with want and exits cleanly.
func closing() []malformed {
	too := protocol.CodeMessageTooLarge
	return []malformed{
		{name: "frame of 64 KiB + 1", in: frameOf(64<<10+1, "{}"), want: too},
		{name: "frame of 1 MiB", in: frameOf(1<<20, "{}"), want: too},
		{name: "frame of 2 GiB - 1", in: frameOf(0x7fffffff, "{}"), want: too},
		{name: "frame of 2 GiB", in: frameOf(0x80000000, "{}"), want: too},
		{name: "frame of 4 GiB - 1", in: frameOf(0xffffffff, "{}"), want: too},
		{name: "big-endian length", in: append(binary.BigEndian.AppendUint32(nil, 20), `{"command":"status"}`...), want: too},
		// The rest of the body is read as the next length ("mand" is 1.7 GB).
		{name: "length short of the body", in: append(frame(`{"com`), `mand":"status"}`...), want: protocol.CodeMalformedMessage, then: too},
		{name: "truncated body", in: frameOf(100, `{"command":"status"}`), want: protocol.CodeMalformedMessage, eof: true},
		{name: "truncated header", in: []byte{20, 0}, want: protocol.CodeMalformedMessage, eof: true},
	}
}

func TestMalformedMessages(t *testing.T) {
	card := newCard(t, "cie")
	tried, handled := 0, 0
	check := func(t *testing.T, h *hostProc, c malformed) bool {
		t.Helper()
		tried++
		h.stdin.Write(c.in)
		if c.eof {
			h.stdin.Close()
		}
		m := h.recv()
		e := protocol.Error{}
		raw := m["error"]
		if raw == nil && m["pinRequest"] != nil {
			var req protocol.PINRequest
			json.Unmarshal(m["pinRequest"], &req)
			if req.Error != nil {
				raw, _ = json.Marshal(req.Error)
			}
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Code != c.want || e.Message == "" {
			t.Errorf("%s: answer %v, want one %s error with a message", c.name, m, c.want)
			return false
		}
		handled++
		return true
	}
	t.Run("resynchronisable", func(t *testing.T) {
		h := spawn(t, card)
		for _, c := range resynchronisable() {
			if check(t, h, c) {
				h.send(`{"command":"status"}`)
				if m := h.recv(); m["tokens"] == nil {
					t.Fatalf("%s: the next status got %v (a second answer?)", c.name, m)
				}
			}
		}
		h.send(`{"command":"quit"}`)
		h.recv()
		h.wait()
	})
	t.Run("during a PIN request", func(t *testing.T) {
		h := spawn(t, card)
		h.send(auth(origin, nonce))
		if h.recv()["pinRequest"] == nil {
			t.Fatal("no PIN request")
		}
		for _, c := range duringPIN() {
			check(t, h, c)
		}
		h.send(`{"command":"cancel"}`)
		if c := errCode(h.recv()); c != protocol.CodeUserCancelled {
			t.Fatalf("cancel after the campaign: %s", c)
		}
		h.send(auth(origin, nonce))
		var req protocol.PINRequest
		json.Unmarshal(h.recv()["pinRequest"], &req)
		if req.TriesLeft != 3 {
			t.Fatalf("tries left %d after the campaign, want 3: a malformed message used a try", req.TriesLeft)
		}
		h.send(`{"command":"quit"}`)
		h.recv()
		h.wait()
	})
	t.Run("closing", func(t *testing.T) {
		for _, c := range closing() {
			h := spawn(t, card)
			if c.then != "" {
				// Two answers, in either order: the reader refuses the
				// oversized frame while the command loop refuses the first.
				tried++
				h.stdin.Write(c.in)
				got := []protocol.Code{errCode(h.recv()), errCode(h.recv())}
				if slices.Contains(got, c.want) && slices.Contains(got, c.then) {
					handled++
				} else {
					t.Errorf("%s: answers %v, want %s and %s", c.name, got, c.want, c.then)
				}
			} else if !check(t, h, c) {
				continue
			}
			h.stdin.Close()
			h.wait() // a clean exit, no panic
		}
	})
	t.Logf("malformed messages handled: %d/%d (%d resynchronisable, %d during a PIN request, %d closing)",
		handled, tried, len(resynchronisable()), len(duringPIN()), len(closing()))
	if tried < 90 {
		t.Errorf("only %d malformed messages tried", tried)
	}
}
