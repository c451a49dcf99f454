module github.com/eidlink/eidlink

go 1.26.8

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25
	github.com/gorilla/websocket v1.5.3
	github.com/kardianos/service v1.2.4
	github.com/miekg/pkcs11 v1.1.1
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)

ignore ./extension/node_modules
