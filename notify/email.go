package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPSecurity is how the connection to the SMTP server is protected.
type SMTPSecurity string

// SMTP security modes.
const (
	// SMTPStartTLS connects in plain text and requires STARTTLS before
	// anything else (submission, port 587). The default.
	SMTPStartTLS SMTPSecurity = "starttls"
	// SMTPImplicitTLS speaks TLS from the first byte (port 465).
	SMTPImplicitTLS SMTPSecurity = "tls"
	// SMTPNoTLS never encrypts: only for a relay on the same host or in
	// tests. Credentials, if any, cross the network in clear.
	SMTPNoTLS SMTPSecurity = "none"
)

// EmailConfig configures the e-mail sender.
type EmailConfig struct {
	// Host is the SMTP server's host name. Required.
	Host string
	// Port defaults to 587 for SMTPStartTLS, 465 for SMTPImplicitTLS and 25
	// for SMTPNoTLS.
	Port int
	// Security defaults to SMTPStartTLS.
	Security SMTPSecurity
	// Username and Password authenticate when Username is set (the
	// strongest mechanism the server offers; PLAIN without TLS).
	Username string
	Password string
	// From is the sender, "alerts@example.com" or
	// "VibeMon <alerts@example.com>". Its domain also names Message-IDs.
	// Required.
	From string
	// Timeout bounds one delivery (connect, TLS, auth, send). Defaults to 30 s.
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (a private CA); its ServerName
	// defaults to Host.
	TLSConfig *tls.Config
	// HELO is the name sent in EHLO. Defaults to "localhost".
	HELO string
	// Now is the clock for the Date header. Defaults to time.Now.
	Now func() time.Time
}

// ParseSMTPURL reads the VIBEMON_SMTP_URL form:
//
//	smtp://user:pass@host:587?from=alerts@example.com          STARTTLS (default)
//	smtp://host:25?starttls=0&from=...                          no TLS (local relay)
//	smtps://user:pass@host:465?from=...                         implicit TLS
//
// User and password are URL-encoded. from is required; starttls accepts
// 1/0/true/false.
func ParseSMTPURL(raw string) (EmailConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return EmailConfig{}, errInvalidf("SMTP URL: %v.", redactURLError(err))
	}
	var cfg EmailConfig
	switch u.Scheme {
	case "smtp":
		cfg.Security = SMTPStartTLS
		if v := u.Query().Get("starttls"); v != "" {
			on, err := strconv.ParseBool(v)
			if err != nil {
				return EmailConfig{}, errInvalidf("SMTP URL: starttls=%q must be 1 or 0.", v)
			}
			if !on {
				cfg.Security = SMTPNoTLS
			}
		}
	case "smtps":
		cfg.Security = SMTPImplicitTLS
	default:
		return EmailConfig{}, errInvalidf("SMTP URL: scheme %q must be smtp or smtps.", u.Scheme)
	}
	cfg.Host = u.Hostname()
	if p := u.Port(); p != "" {
		if cfg.Port, err = strconv.Atoi(p); err != nil || cfg.Port <= 0 || cfg.Port > 65535 {
			return EmailConfig{}, errInvalidf("SMTP URL: port %q is not a port number.", p)
		}
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	cfg.From = u.Query().Get("from")
	if err := cfg.validate(); err != nil {
		return EmailConfig{}, err
	}
	return cfg, nil
}

// redactURLError drops the URL (and so any password) from a parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c *EmailConfig) validate() error {
	switch c.Security {
	case "":
		c.Security = SMTPStartTLS
	case SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS:
	default:
		return errInvalidf("EmailConfig.Security %q must be starttls, tls or none.", c.Security)
	}
	if c.Host == "" {
		return errInvalidf("EmailConfig.Host is required.")
	}
	if c.Port < 0 || c.Port > 65535 {
		return errInvalidf("EmailConfig.Port %d is not a port number.", c.Port)
	}
	if c.From == "" {
		return errInvalidf("EmailConfig.From is required (from= in the SMTP URL).")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return errInvalidf("EmailConfig.From %q is not an e-mail address.", c.From)
	}
	return nil
}

// Email sends multipart/alternative (text and HTML) mail over SMTP. A
// Recipient's Address is the e-mail address and Name its display name.
//
// The Message-ID is derived from the idempotency key, so a retried delivery
// carries the same Message-ID and mail systems that deduplicate on it (and
// people reading threads) see one message. Every message of one alert
// references the same thread id, so clients group an alert's story.
type Email struct {
	cfg    EmailConfig
	domain string
}

// NewEmail returns an e-mail sender, or an EINVALID error naming the wrong
// field. It does not connect: a server that is down shows as a temporary
// failure of Send.
func NewEmail(cfg EmailConfig) (*Email, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = map[SMTPSecurity]int{SMTPStartTLS: 587, SMTPImplicitTLS: 465, SMTPNoTLS: 25}[cfg.Security]
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HELO == "" {
		cfg.HELO = "localhost"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	from, _ := mail.ParseAddress(cfg.From)
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Email{cfg: cfg, domain: domain}, nil
}

// MessageID returns the Message-ID (without angle brackets) that Send uses
// for idempotencyKey.
func (e *Email) MessageID(idempotencyKey string) string {
	return "vibemon." + keyHash(idempotencyKey) + "@" + e.domain
}

func (e *Email) threadID(alertID int64) string {
	return fmt.Sprintf("vibemon.alert.%d@%s", alertID, e.domain)
}

// Send delivers m to one address over a new SMTP connection. A 5xx reply
// (unknown mailbox, rejected message, failed authentication), an invalid
// address, a TLS certificate that does not verify and a server without the
// required STARTTLS are permanent; 4xx replies, refused connections and
// timeouts are temporary.
func (e *Email) Send(ctx context.Context, to Recipient, m Message, idempotencyKey string) error {
	if err := checkSend(ChannelEmail, to, &m, idempotencyKey); err != nil {
		return err
	}
	msg, err := e.build(to, m, idempotencyKey)
	if err != nil {
		return permanent(ChannelEmail, 0, err)
	}
	client, err := e.client()
	if err != nil {
		return permanent(ChannelEmail, 0, fmt.Errorf("smtp client: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classifySMTP(err)
	}
	return nil
}

func (e *Email) build(to Recipient, m Message, key string) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(e.cfg.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", e.cfg.From, err)
	}
	addr, err := mail.ParseAddress(to.Address)
	if err != nil {
		return nil, errInvalidf("e-mail address %q is not valid.", to.Address)
	}
	if to.Name != "" {
		err = msg.AddToFormat(to.Name, addr.Address)
	} else {
		err = msg.To(addr.String())
	}
	if err != nil {
		return nil, fmt.Errorf("to %q: %w", to.Address, err)
	}
	msg.Subject(m.Title)
	msg.SetMessageIDWithValue(e.MessageID(key))
	msg.SetDateWithValue(e.cfg.Now())
	msg.SetUserAgent("VibeMon")
	// RFC 3834: no vacation auto-replies to machine mail.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-VibeMon-Event", string(m.Event))
	if m.AlertID > 0 {
		msg.SetGenHeader("X-VibeMon-Alert-ID", strconv.FormatInt(m.AlertID, 10))
		msg.SetGenHeaderPreformatted(gomail.HeaderReferences, "<"+e.threadID(m.AlertID)+">")
	}
	if m.Severity != "" {
		msg.SetGenHeader("X-VibeMon-Severity", string(m.Severity))
	}
	text := m.Text
	if m.Link != "" {
		text += "\n\n" + m.Link
	}
	msg.SetBodyString(gomail.TypeTextPlain, text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

func (e *Email) client() (*gomail.Client, error) {
	tc := &tls.Config{ServerName: e.cfg.Host, MinVersion: tls.VersionTLS12}
	if e.cfg.TLSConfig != nil {
		tc = e.cfg.TLSConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = e.cfg.Host
		}
	}
	opts := []gomail.Option{
		gomail.WithPort(e.cfg.Port),
		gomail.WithTimeout(e.cfg.Timeout),
		gomail.WithHELO(e.cfg.HELO),
		gomail.WithTLSConfig(tc),
	}
	switch e.cfg.Security {
	case SMTPStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case SMTPImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case SMTPNoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if e.cfg.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if e.cfg.Security == SMTPNoTLS {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(e.cfg.Username), gomail.WithPassword(e.cfg.Password))
	}
	return gomail.NewClient(e.cfg.Host, opts...)
}

// classifySMTP maps a go-mail failure to a delivery error by the SMTP reply
// code (4xx temporary, 5xx permanent); without a code, certificate and
// STARTTLS failures are permanent (configuration) and the rest, network
// trouble, temporary.
func classifySMTP(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		if code == 0 {
			code = smtpCode(err)
		}
		if code >= 500 || (code == 0 && !se.IsTemp() && isConfigError(err)) {
			return permanent(ChannelEmail, code, fmt.Errorf("send mail: %w", err))
		}
		return temporary(ChannelEmail, code, fmt.Errorf("send mail: %w", err))
	}
	code := smtpCode(err)
	switch {
	case code >= 500:
		return permanent(ChannelEmail, code, fmt.Errorf("send mail: %w", err))
	case code >= 400:
		return temporary(ChannelEmail, code, fmt.Errorf("send mail: %w", err))
	case isConfigError(err):
		return permanent(ChannelEmail, 0, fmt.Errorf("send mail: %w", err))
	}
	return temporary(ChannelEmail, 0, fmt.Errorf("send mail: %w", err))
}

// smtpCode finds an SMTP reply code in err's chain, 0 when there is none.
func smtpCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// isConfigError reports failures that no retry fixes until an admin acts:
// an untrusted certificate or a server without the STARTTLS we require.
func isConfigError(err error) bool {
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		netErr    net.Error
	)
	if errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return true
	}
	if errors.As(err, &netErr) {
		return false
	}
	return strings.Contains(err.Error(), "does not support STARTTLS")
}
