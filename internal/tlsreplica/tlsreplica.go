// Package tlsreplica serves local replicas of the real TLS client-certificate
// logins, for tests, benchmarks and the demo: the CIE identity provider's
// "Prosegui con computer" (a link) and INPS's CNS "Procedi" (a form button)
// lead to endpoints that require a card certificate in the TLS handshake
// (crypto/tls RequireAndVerifyClientCert against the test card CAs), which
// return to a MyINPS-like page greeting the holder ("Benvenuto MARIO
// ROSSI"). The client-auth endpoints negotiate TLS 1.2 at most, as the
// real sites do; the same identity provider page under /tls13 leads to one
// that requires TLS 1.3, where an RSA key must sign with PSS.
//
// The pages use the site profiles' real host names
// (idserver.servizicie.interno.gov.it, www.inps.it) with the ports of
// local listeners: a browser maps those names to 127.0.0.1 (Chromium
// --host-resolver-rules, Firefox network.dns.localDomains) and trusts the
// replica's own server CA (Options.CAOut), so that the extension recognises
// the pages and the certificate auto-selection policy matches them.
//
// Each page's own click handler marks the request (the link gets
// "?site=1", the form a hidden field site=1), and the welcome page says
// whether it saw the mark: a held and released click must reach both the
// site's handler and the navigation.
package tlsreplica

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/relyingparty"
)

// The real hosts the replicas answer as.
const (
	IdPHost  = "idserver.servizicie.interno.gov.it"
	INPSHost = "www.inps.it"
)

// Options configures Run.
type Options struct {
	CAs []string // PEM files of the trusted card CAs (the test cards' ca.pem)
	// CIECAs and CNSCAs are trusted by one site only, as on the real
	// sites: the identity provider takes CIEs, INPS's "Procedi" CNSs. A
	// site names the CAs it trusts in its certificate request, so a
	// browser with both cards offers each site its own.
	CIECAs, CNSCAs []string
	// CAOut, if set, receives the replica's server CA (PEM), which the
	// browser profile must trust.
	CAOut string
	Log   *slog.Logger
	// Ready, if set, is called with the sites once every listener listens.
	Ready func(Sites)
}

// Sites are the replicas' entry pages and ports.
type Sites struct {
	IdP      string `json:"idp"`      // the identity provider's page with "Prosegui con computer" (TLS 1.2)
	IdPTLS13 string `json:"idpTls13"` // the same, leading to the TLS 1.3 endpoint
	INPS     string `json:"inps"`     // the INPS login page with the CNS "Procedi" (TLS 1.2)
	// Ports of the listeners: pages, TLS 1.2 client auth, TLS 1.3 client auth.
	Ports [3]int `json:"ports"`
}

// Server is the replicas' state: listeners and the login tickets.
type Server struct {
	log     *slog.Logger
	sites   Sites
	mu      sync.Mutex
	tickets map[string]login // one-use, from the client-auth endpoint to the welcome page
}

// login is what a client-auth endpoint saw.
type login struct {
	Holder  string
	Kind    eidcert.Kind
	TLS     string // "TLS 1.2", "TLS 1.3"
	Site    bool   // the site's own click handler ran
	Created time.Time
}

// ticketTTL bounds a ticket's life: the welcome page follows at once.
const ticketTTL = time.Minute

// Run serves the replicas until ctx is done.
func Run(ctx context.Context, o Options) error {
	if len(o.CAs)+len(o.CIECAs)+len(o.CNSCAs) == 0 {
		return errors.New("tlsreplica: no card CA given")
	}
	cieRoots, err := certPool(slices.Concat(o.CIECAs, o.CAs))
	if err != nil {
		return err
	}
	cnsRoots, err := certPool(slices.Concat(o.CNSCAs, o.CAs))
	if err != nil {
		return err
	}
	cert, caPEM, err := serverCert()
	if err != nil {
		return err
	}
	if o.CAOut != "" {
		if err := os.WriteFile(o.CAOut, caPEM, 0o644); err != nil {
			return err
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	base := tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	pages, tls12, tls13 := base.Clone(), base.Clone(), base.Clone()
	tls12.ClientAuth, tls12.ClientCAs, tls12.MaxVersion = tls.RequireAndVerifyClientCert, cieRoots, tls.VersionTLS12
	tls13.ClientAuth, tls13.ClientCAs, tls13.MinVersion = tls.RequireAndVerifyClientCert, cieRoots, tls.VersionTLS13
	// Each client-auth handshake is logged as it starts, with the host
	// asked for: a browser held by its certificate chooser leaves that line
	// and no login.
	hello := func(h *tls.ClientHelloInfo) { o.Log.Info("tls replica: client hello", "host", h.ServerName) }
	// One TLS 1.2 listener serves both sites: INPS, by its name, trusts the CNS CAs.
	inps := tls12.Clone()
	inps.ClientCAs = cnsRoots
	tls12.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		hello(h)
		if h.ServerName == INPSHost {
			return inps, nil
		}
		return nil, nil
	}
	tls13.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		hello(h)
		return nil, nil
	}
	s := &Server{log: o.Log, tickets: map[string]login{}}
	var lns [3]net.Listener
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return err
		}
		s.sites.Ports[i] = lns[i].Addr().(*net.TCPAddr).Port
	}
	p := s.sites.Ports
	s.sites.IdP = fmt.Sprintf("https://%s:%d/", IdPHost, p[0])
	s.sites.IdPTLS13 = fmt.Sprintf("https://%s:%d/tls13", IdPHost, p[0])
	s.sites.INPS = fmt.Sprintf("https://%s:%d/", INPSHost, p[0])
	servers := []*http.Server{
		{Handler: http.HandlerFunc(s.pages), TLSConfig: pages},
		{Handler: http.HandlerFunc(s.clientAuth), TLSConfig: tls12},
		{Handler: http.HandlerFunc(s.clientAuth), TLSConfig: tls13},
	}
	errs := make(chan error, len(servers))
	for i, srv := range servers {
		srv.ReadHeaderTimeout = 10 * time.Second
		srv.ErrorLog = slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug) // failed handshakes are the tests' business
		go func() { errs <- srv.Serve(tls.NewListener(lns[i], srv.TLSConfig)) }()
	}
	if o.Ready != nil {
		o.Ready(s.sites)
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdown)
	}
	if first != nil && !errors.Is(first, http.ErrServerClosed) {
		return first
	}
	return nil
}

// certPool loads the CA files, none giving an empty pool: a site that
// trusts no card.
func certPool(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return x509.NewCertPool(), nil
	}
	return relyingparty.LoadCertPool(files...)
}

// pages serves the entry pages and the welcome page, by host name.
func (s *Server) pages(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.Host)
	p := s.sites.Ports
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case host == IdPHost && (r.URL.Path == "/" || r.URL.Path == "/tls13"):
		port := p[1]
		if r.URL.Path == "/tls13" {
			port = p[2]
		}
		render(w, idpPage, map[string]any{"Auth": fmt.Sprintf("https://%s:%d/cie", IdPHost, port)})
	case host == INPSHost && r.URL.Path == "/":
		render(w, inpsPage, map[string]any{"Auth": fmt.Sprintf("https://%s:%d/cns", INPSHost, p[1])})
	case host == INPSHost && r.URL.Path == "/myinps":
		l, ok := s.take(r.URL.Query().Get("t"))
		if !ok {
			http.Error(w, "no login: start again from the login page", http.StatusForbidden)
			return
		}
		render(w, welcomePage, l)
	default:
		http.NotFound(w, r)
	}
}

// clientAuth is a client-certificate endpoint: the handshake verified the
// card's certificate against the card CAs; the holder goes to MyINPS.
func (s *Server) clientAuth(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		http.Error(w, "no verified client certificate", http.StatusForbidden)
		return
	}
	c := r.TLS.VerifiedChains[0][0]
	r.ParseForm()
	l := login{Holder: eidcert.HolderOf(c).Name(), Kind: eidcert.KindOf(c), TLS: tls.VersionName(r.TLS.Version), Site: r.Form.Get("site") == "1", Created: time.Now()}
	host, _, _ := net.SplitHostPort(r.Host)
	s.log.Info("tls replica: client-certificate login", "holder", l.Holder, "kind", l.Kind, "tls", l.TLS, "host", host, "path", r.URL.Path)
	http.Redirect(w, r, fmt.Sprintf("https://%s:%d/myinps?t=%s", INPSHost, s.sites.Ports[0], s.ticket(l)), http.StatusSeeOther)
}

func (s *Server) ticket(l login) string {
	b := make([]byte, 16)
	rand.Read(b)
	t := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.tickets {
		if time.Since(v.Created) > ticketTTL {
			delete(s.tickets, k)
		}
	}
	s.tickets[t] = l
	return t
}

func (s *Server) take(t string) (login, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.tickets[t]
	delete(s.tickets, t)
	return l, ok && time.Since(l.Created) <= ticketTTL
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// The pages: the labels the site profiles recognise, and each site's own
// click handler, which marks the request it lets go on.
var (
	idpPage = template.Must(template.New("idp").Parse(`<!doctype html>
<html lang="it"><head><meta charset="utf-8"><title>CIE ID (replica)</title></head>
<body><p>Replica locale per i test di eidlink: non è il sito del Ministero dell'Interno.</p>
<h1>Scegli come proseguire</h1>
<a id="app" href="/app">Prosegui con smartphone</a>
<a id="pc" href="{{.Auth}}">Prosegui con computer</a>
<script>
document.getElementById("pc").addEventListener("click", (e) => { e.currentTarget.href = {{.Auth}} + "?site=1"; });
</script></body></html>`))
	inpsPage = template.Must(template.New("inps").Parse(`<!doctype html>
<html lang="it"><head><meta charset="utf-8"><title>MyINPS (replica)</title></head>
<body><p>Replica locale per i test di eidlink: non è il sito dell'INPS.</p>
<h1>Entra in MyINPS</h1>
<div role="tablist">
  <button role="tab" id="tab-spid" aria-selected="false">SPID</button>
  <button role="tab" id="tab-cie" aria-selected="false">CIE</button>
  <button role="tab" id="tab-cns" aria-selected="true">CNS</button>
</div>
<form id="cns" method="post" action="{{.Auth}}"><p>Inserisci la carta nel lettore.</p><button id="procedi" type="submit">Procedi</button></form>
<script>
document.getElementById("cns").addEventListener("submit", (e) => {
  const f = e.currentTarget, i = document.createElement("input");
  i.type = "hidden"; i.name = "site"; i.value = "1"; f.append(i);
});
</script></body></html>`))
	welcomePage = template.Must(template.New("welcome").Parse(`<!doctype html>
<html lang="it"><head><meta charset="utf-8"><title>MyINPS (replica)</title></head>
<body><h1 id="welcome">Benvenuto {{.Holder}}</h1>
<p id="details" data-kind="{{.Kind}}" data-tls="{{.TLS}}" data-site="{{.Site}}">{{.Kind}}, {{.TLS}}, gestore del sito: {{if .Site}}sì{{else}}no{{end}}</p>
</body></html>`))
)

// serverCert makes the replicas' server certificate for the real host
// names, issued by a new CA (returned as PEM) that only the test browser
// profiles trust.
func serverCert() (tls.Certificate, []byte, error) {
	ca, caKey, err := eidcert.NewTestCA("eidlink TLS replica CA (NOT FOR PRODUCTION)")
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "eidlink TLS replica " + strconv.FormatInt(serial.Int64()%1000, 10)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		DNSNames:     []string{IdPHost, INPSHost, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), nil
}
