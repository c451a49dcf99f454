package protocol

// Status is the result of "status": what the host sees.
type Status struct {
	Version string `json:"version"`
	// Mode says who answered: ModeService, ModeNoService or, from the
	// CLI's own "eidlink status", ModeInProcess.
	Mode    string         `json:"mode"`
	Service *ServiceStatus `json:"service,omitempty"`
	Modules []ModuleStatus `json:"modules"`
	Tokens  []TokenStatus  `json:"tokens"`
	Readers []ReaderStatus `json:"readers"`
	// PCSC is empty when PC/SC works, else why it does not.
	PCSC string `json:"pcsc,omitempty"`
	// TLS is the service's side of eidlink's PKCS#11 module (TLS
	// logins); only the service reports it.
	TLS *TLSStatus `json:"tls,omitempty"`
}

// TLSStatus says whether the signatures that eidlink's PKCS#11 module asks
// for can be made now, and why the last one was refused.
type TLSStatus struct {
	// Unlocked: a card is unlocked for SignaturesLeft more signatures,
	// for ExpiresIn more seconds.
	Unlocked       bool `json:"unlocked"`
	SignaturesLeft int  `json:"signaturesLeft,omitempty"`
	ExpiresIn      int  `json:"expiresIn,omitempty"`
	// Hosts is the number of hosts connected to the service (the one
	// asking included): with none, a signature with nothing unlocked
	// cannot ask the PIN and is refused.
	Hosts int `json:"hosts"`
	// LastRefusal says when and why the last signature was refused, ""
	// when none was since the service started.
	LastRefusal string `json:"lastRefusal,omitempty"`
	// LastRefusalCode is the code of that refusal (ERR_EIDLINK_CARD_REMOVED,
	// ERR_WEBEID_USER_CANCELLED, ERR_EIDLINK_TLS_NOT_UNLOCKED, ...) and
	// LastRefusalAt its time in Unix milliseconds: the extension explains
	// a failed TLS login with them.
	LastRefusalCode Code  `json:"lastRefusalCode,omitempty"`
	LastRefusalAt   int64 `json:"lastRefusalAt,omitempty"`
	// StartedAt is when the service began answering the module (Unix
	// milliseconds): a service that started during a TLS login is one
	// that stopped (or restarted) under it.
	StartedAt int64 `json:"startedAt,omitempty"`
	// TLS12Only are the token labels of the cards, as the module last
	// saw them, that log in only where the server negotiates TLS 1.2: an
	// RSA key that the card pads PKCS#1 v1.5 itself (a CIE), while TLS
	// 1.3 takes only RSA-PSS, with no fallback in either browser.
	TLS12Only []string `json:"tls12Only,omitempty"`
}

// Modes of a Status.
const (
	ModeService   = "service"    // the user's eidlink service, through the host
	ModeNoService = "no-service" // the host, which reaches no service (Service.Reason says why)
	ModeInProcess = "in-process" // a process that drives the cards itself: the CLI
)

// ServiceStatus describes the eidlink service as the host sees it. Each
// user has their own service: User names the user it serves (and runs
// as), Reason says why it does not answer when Running is false.
type ServiceStatus struct {
	Running  bool   `json:"running"`
	Endpoint string `json:"endpoint,omitempty"`
	Version  string `json:"version,omitempty"`
	User     string `json:"user,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// ModuleIPZS is the name of the official CIE middleware (IPZS) among
// the modules: the one module for a CIE, never for a CNS.
const ModuleIPZS = "IPZS CIE"

// ModuleNativeCIE is eidlink's own CIE driver among the modules (no
// PKCS#11 library: no path); it asks all 8 PIN digits.
const ModuleNativeCIE = "eidlink (native CIE driver)"

// ModuleStatus describes one PKCS#11 module eidlink knows about.
type ModuleStatus struct {
	Name    string `json:"name"`   // ModuleIPZS, "OpenSC", ...
	Path    string `json:"path"`   // absolute path of the library
	Source  string `json:"source"` // "builtin", "env" or "config"
	Present bool   `json:"present"`
	Loaded  bool   `json:"loaded"`
	Library string `json:"library,omitempty"` // the module's own description and version
	Error   string `json:"error,omitempty"`
}

// TokenStatus describes one card (PKCS#11 token).
type TokenStatus struct {
	Module        string `json:"module"` // module path
	Slot          uint   `json:"slot"`
	SlotDesc      string `json:"slotDescription,omitempty"`
	Label         string `json:"label"`
	Manufacturer  string `json:"manufacturer,omitempty"`
	Model         string `json:"model,omitempty"`
	Serial        string `json:"serial,omitempty"`
	CardKind      string `json:"cardKind"` // "cie", "cns" or "unknown"
	Holder        string `json:"holder,omitempty"`
	CodiceFiscale string `json:"codiceFiscale,omitempty"`
	HasAuthKey    bool   `json:"hasAuthKey"`
	HasSignKey    bool   `json:"hasSignKey"`
	TriesLeft     int    `json:"triesLeft"` // -1: the card does not say
	PINLocked     bool   `json:"pinLocked"`
	Pinpad        bool   `json:"pinpad"`
	MinPINLength  int    `json:"minPinLength"`
	MaxPINLength  int    `json:"maxPinLength"`
	PINPart       string `json:"pinPart"` // "full" or "last4"
}

// ReaderStatus describes one PC/SC reader and the card in it.
type ReaderStatus struct {
	Name          string `json:"name"`
	CardPresent   bool   `json:"cardPresent"`
	ATR           string `json:"atr,omitempty"` // hex
	Family        string `json:"family,omitempty"`
	CardKind      string `json:"cardKind,omitempty"`
	Contactless   bool   `json:"contactless,omitempty"`
	Pinpad        bool   `json:"pinpad,omitempty"`
	Module        string `json:"module,omitempty"` // PKCS#11 module chosen for the card
	Holder        string `json:"holder,omitempty"`
	CodiceFiscale string `json:"codiceFiscale,omitempty"`
	Problem       string `json:"problem,omitempty"` // e.g. the CIE software is missing
}
