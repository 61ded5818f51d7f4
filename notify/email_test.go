package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/notify"
)

// received is one message that the test SMTP server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	Auth string // user name that authenticated, "" for none
	TLS  bool
}

// smtpPeer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// records what it accepts and rejects recipients by local part:
// "nobody@" gets 550 and "busy@" gets 451.
type smtpPeer struct {
	mu   sync.Mutex
	msgs []received
	user string
	pass string
	host string
	port int
	ca   *x509.CertPool
}

func (p *smtpPeer) messages() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.msgs...)
}

type smtpSession struct {
	peer *smtpPeer
	conn *smtp.Conn
	cur  received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.peer.user || pass != s.peer.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.cur.Auth = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.peer.user != "" && s.cur.Auth == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.From = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "nobody@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case strings.HasPrefix(to, "busy@"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.cur.Data = b
	s.peer.mu.Lock()
	s.peer.msgs = append(s.peer.msgs, s.cur)
	s.peer.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { auth := s.cur.Auth; s.cur = received{Auth: auth} }
func (s *smtpSession) Logout() error { return nil }

type peerOptions struct {
	security notify.SMTPSecurity // how the server listens
	noTLS    bool                // do not offer STARTTLS
	user     string
	pass     string
}

// startSMTP runs the peer until the test ends.
func startSMTP(t *testing.T, o peerOptions) *smtpPeer {
	t.Helper()
	p := &smtpPeer{user: o.user, pass: o.pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{peer: p, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = o.security == notify.SMTPNoTLS
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	cert, pool := selfSigned(t)
	p.ca = pool
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	if !o.noTLS && o.security != notify.SMTPNoTLS {
		srv.TLSConfig = tc
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.security == notify.SMTPImplicitTLS {
		l = tls.NewListener(l, tc)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p.host = "127.0.0.1"
	p.port = l.Addr().(*net.TCPAddr).Port
	return p
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func (p *smtpPeer) config(sec notify.SMTPSecurity) notify.EmailConfig {
	return notify.EmailConfig{
		Host: p.host, Port: p.port, Security: sec,
		Username: p.user, Password: p.pass,
		From:      "VibeMon <alerts@plant.example>",
		TLSConfig: &tls.Config{RootCAs: p.ca},
		Timeout:   5 * time.Second,
		Now:       func() time.Time { return time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC) },
	}
}

func alertMessage() notify.Message {
	return notify.Message{
		Title:    "CRITICAL: Pump 3 vibration 11.2 mm/s",
		Text:     "Pump 3 (drive end) RMS velocity is 11.2 mm/s, above the 7.1 mm/s limit.",
		HTML:     "<p><b>Pump 3</b> RMS velocity is 11.2&nbsp;mm/s, above the 7.1&nbsp;mm/s limit.</p>",
		Link:     "https://vibemon.plant.example/alerts/42",
		Severity: vibemon.SeverityCritical,
		AlertID:  42,
		Event:    notify.EventOpened,
	}
}

// parsedMail is what a mail client would see.
type parsedMail struct {
	Header      mail.Header
	ContentType string
	Parts       map[string]string // media type -> decoded body
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	out := parsedMail{Header: m.Header, ContentType: mt, Parts: map[string]string{}}
	if !strings.HasPrefix(mt, "multipart/") {
		out.Parts[mt] = decodePart(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return out
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		out.Parts[pt] = decodePart(t, part.Header.Get("Content-Transfer-Encoding"), part)
	}
	return out
}

func decodePart(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	} else if strings.EqualFold(cte, "base64") {
		t.Fatalf("unexpected base64 part") // go-mail uses quoted-printable by default
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestEmailDeliversMultipartAlternativeOverEachSecurityMode(t *testing.T) {
	for _, sec := range []notify.SMTPSecurity{notify.SMTPStartTLS, notify.SMTPImplicitTLS, notify.SMTPNoTLS} {
		t.Run(string(sec), func(t *testing.T) {
			peer := startSMTP(t, peerOptions{security: sec, user: "vibemon", pass: "s3cret"})
			e, err := notify.NewEmail(peer.config(sec))
			if err != nil {
				t.Fatal(err)
			}
			m := alertMessage()
			to := notify.Recipient{Address: "ana@plant.example", Name: "Ana Ruiz"}
			if err := e.Send(context.Background(), to, m, "alert:42:opened:user:7"); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := peer.messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != "alerts@plant.example" || len(got.To) != 1 || got.To[0] != "ana@plant.example" {
				t.Errorf("envelope MAIL FROM %q RCPT TO %q, want alerts@plant.example -> [ana@plant.example]", got.From, got.To)
			}
			if got.Auth != "vibemon" {
				t.Errorf("authenticated as %q, want vibemon", got.Auth)
			}
			if wantTLS := sec != notify.SMTPNoTLS; got.TLS != wantTLS {
				t.Errorf("message travelled over TLS = %v, want %v", got.TLS, wantTLS)
			}
			pm := parseMail(t, got.Data)
			if pm.ContentType != "multipart/alternative" {
				t.Errorf("Content-Type %q, want multipart/alternative", pm.ContentType)
			}
			if text := pm.Parts["text/plain"]; !strings.Contains(text, m.Text) || !strings.Contains(text, m.Link) {
				t.Errorf("text part %q lacks the text and the link", text)
			}
			if html := pm.Parts["text/html"]; html != m.HTML {
				t.Errorf("html part %q, want %q", html, m.HTML)
			}
			dec := new(mime.WordDecoder)
			subject, _ := dec.DecodeHeader(pm.Header.Get("Subject"))
			for name, want := range map[string]string{
				"Subject":            m.Title,
				"Message-ID":         "<" + e.MessageID("alert:42:opened:user:7") + ">",
				"Auto-Submitted":     "auto-generated",
				"X-VibeMon-Alert-ID": "42",
				"X-VibeMon-Event":    "opened",
				"X-VibeMon-Severity": "critical",
				"References":         "<vibemon.alert.42@plant.example>",
			} {
				got := pm.Header.Get(name)
				if name == "Subject" {
					got = subject
				}
				if got != want {
					t.Errorf("%s: %q, want %q", name, got, want)
				}
			}
			from, err := pm.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "alerts@plant.example" || from[0].Name != "VibeMon" {
				t.Errorf("From %v (%v), want VibeMon <alerts@plant.example>", from, err)
			}
			toHdr, err := pm.Header.AddressList("To")
			if err != nil || len(toHdr) != 1 || toHdr[0].Address != "ana@plant.example" || toHdr[0].Name != "Ana Ruiz" {
				t.Errorf("To %v (%v), want Ana Ruiz <ana@plant.example>", toHdr, err)
			}
			if d, err := pm.Header.Date(); err != nil || !d.Equal(time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)) {
				t.Errorf("Date %v (%v), want the injected clock", d, err)
			}
		})
	}
}

func TestEmailMessageIDIsStablePerIdempotencyKey(t *testing.T) {
	peer := startSMTP(t, peerOptions{security: notify.SMTPNoTLS})
	e, err := notify.NewEmail(peer.config(notify.SMTPNoTLS))
	if err != nil {
		t.Fatal(err)
	}
	to := notify.Recipient{Address: "ana@plant.example"}
	for _, key := range []string{"k1", "k1", "k2"} {
		if err := e.Send(context.Background(), to, alertMessage(), key); err != nil {
			t.Fatal(err)
		}
	}
	msgs := peer.messages()
	if len(msgs) != 3 {
		t.Fatalf("server received %d messages, want 3", len(msgs))
	}
	ids := make([]string, 3)
	for i, m := range msgs {
		ids[i] = parseMail(t, m.Data).Header.Get("Message-ID")
	}
	if ids[0] != ids[1] {
		t.Errorf("retries of one key got Message-IDs %q and %q, want equal", ids[0], ids[1])
	}
	if ids[0] == ids[2] {
		t.Errorf("different keys got the same Message-ID %q", ids[0])
	}
	if !strings.HasSuffix(ids[0], "@plant.example>") {
		t.Errorf("Message-ID %q should be in the sender's domain", ids[0])
	}
}

func TestEmailTextOnlyWhenNoHTML(t *testing.T) {
	peer := startSMTP(t, peerOptions{security: notify.SMTPNoTLS})
	e, _ := notify.NewEmail(peer.config(notify.SMTPNoTLS))
	m := alertMessage()
	m.HTML = ""
	if err := e.Send(context.Background(), notify.Recipient{Address: "ana@plant.example"}, m, "k"); err != nil {
		t.Fatal(err)
	}
	pm := parseMail(t, peer.messages()[0].Data)
	if pm.ContentType != "text/plain" || !strings.Contains(pm.Parts["text/plain"], m.Text) {
		t.Errorf("got %s with parts %v, want a text/plain message with the text", pm.ContentType, pm.Parts)
	}
}

func TestEmailErrorsSayWhetherToRetry(t *testing.T) {
	closedPort := func() int {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return p
	}
	tests := []struct {
		name      string
		peer      peerOptions
		sec       notify.SMTPSecurity
		edit      func(*notify.EmailConfig)
		to        string
		permanent bool
		code      int
	}{
		{name: "unknown mailbox 550", peer: peerOptions{security: notify.SMTPNoTLS}, sec: notify.SMTPNoTLS, to: "nobody@plant.example", permanent: true, code: 550},
		{name: "greylisted 451", peer: peerOptions{security: notify.SMTPNoTLS}, sec: notify.SMTPNoTLS, to: "busy@plant.example", permanent: false, code: 451},
		{name: "wrong password 535", peer: peerOptions{security: notify.SMTPStartTLS, user: "vibemon", pass: "s3cret"}, sec: notify.SMTPStartTLS,
			edit: func(c *notify.EmailConfig) { c.Password = "wrong" }, to: "ana@plant.example", permanent: true},
		{name: "server without STARTTLS", peer: peerOptions{security: notify.SMTPStartTLS, noTLS: true}, sec: notify.SMTPStartTLS, to: "ana@plant.example", permanent: true},
		{name: "untrusted certificate", peer: peerOptions{security: notify.SMTPImplicitTLS}, sec: notify.SMTPImplicitTLS,
			edit: func(c *notify.EmailConfig) { c.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()} }, to: "ana@plant.example", permanent: true},
		{name: "connection refused", peer: peerOptions{security: notify.SMTPNoTLS}, sec: notify.SMTPNoTLS,
			edit: func(c *notify.EmailConfig) { c.Port = closedPort() }, to: "ana@plant.example", permanent: false},
		{name: "invalid address", peer: peerOptions{security: notify.SMTPNoTLS}, sec: notify.SMTPNoTLS, to: "not an address", permanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := startSMTP(t, tt.peer)
			cfg := peer.config(tt.sec)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			e, err := notify.NewEmail(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = e.Send(context.Background(), notify.Recipient{Address: tt.to}, alertMessage(), "k")
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := notify.IsPermanent(err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (err: %v)", got, tt.permanent, err)
			}
			if got := errors.Is(err, notify.ErrTemporary); got == tt.permanent {
				t.Errorf("errors.Is(err, ErrTemporary) = %v, want %v", got, !tt.permanent)
			}
			var de *notify.DeliveryError
			if tt.code != 0 && (!errors.As(err, &de) || de.Status != tt.code) {
				t.Errorf("status %v, want SMTP code %d (err: %v)", de, tt.code, err)
			}
			if n := len(peer.messages()); n != 0 {
				t.Errorf("server accepted %d messages, want none", n)
			}
		})
	}
}

func TestEmailHonoursContextTimeout(t *testing.T) {
	// A server that accepts the connection but never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	e, _ := notify.NewEmail(notify.EmailConfig{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port,
		Security: notify.SMTPNoTLS, From: "alerts@plant.example", Timeout: 300 * time.Millisecond})
	start := time.Now()
	err = e.Send(context.Background(), notify.Recipient{Address: "ana@plant.example"}, alertMessage(), "k")
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %s with a 300ms timeout", d)
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    notify.EmailConfig
		wantErr string
	}{
		{raw: "smtp://user:p%40ss@mail.example:587?starttls=1&from=alerts@plant.example",
			want: notify.EmailConfig{Host: "mail.example", Port: 587, Security: notify.SMTPStartTLS, Username: "user", Password: "p@ss", From: "alerts@plant.example"}},
		{raw: "smtp://mail.example?from=alerts@plant.example",
			want: notify.EmailConfig{Host: "mail.example", Security: notify.SMTPStartTLS, From: "alerts@plant.example"}},
		{raw: "smtp://localhost:25?starttls=0&from=VibeMon%20%3Calerts@plant.example%3E",
			want: notify.EmailConfig{Host: "localhost", Port: 25, Security: notify.SMTPNoTLS, From: "VibeMon <alerts@plant.example>"}},
		{raw: "smtps://u:p@mail.example:465?from=alerts@plant.example",
			want: notify.EmailConfig{Host: "mail.example", Port: 465, Security: notify.SMTPImplicitTLS, Username: "u", Password: "p", From: "alerts@plant.example"}},
		{raw: "smtp://mail.example:587", wantErr: "From is required"},
		{raw: "http://mail.example?from=a@b.example", wantErr: "scheme"},
		{raw: "smtp://mail.example?from=a@b.example&starttls=maybe", wantErr: "starttls"},
		{raw: "smtp://?from=a@b.example", wantErr: "Host is required"},
		{raw: "smtp://u:secret@mail.example:99999?from=a@b.example", wantErr: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := notify.ParseSMTPURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || vibemon.ErrorCode(err) != vibemon.EINVALID {
					t.Fatalf("err = %v, want EINVALID mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Host != tt.want.Host || got.Port != tt.want.Port || got.Security != tt.want.Security ||
				got.Username != tt.want.Username || got.Password != tt.want.Password || got.From != tt.want.From {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
