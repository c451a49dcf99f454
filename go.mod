module github.com/eidlink/eidlink

go 1.26.8

require (
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/kardianos/service v1.2.4 // indirect
	github.com/miekg/pkcs11 v1.1.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.47.0 // indirect
)

ignore ./extension/node_modules
