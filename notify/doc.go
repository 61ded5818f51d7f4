// Package notify delivers alert notifications to people and systems: Telegram
// (Bot API), e-mail (SMTP), push (Firebase Cloud Messaging HTTP v1) and signed
// webhooks. Each channel is a Sender; Channels looks them up by name.
//
// Senders are stateless about alerts: they deliver one Message to one
// Recipient and report whether a failure is worth retrying (errors wrapping
// ErrTemporary) or not (ErrPermanent). Retries, idempotency bookkeeping,
// preferences, quiet hours and escalation belong to the caller (the durable
// job queue); senders only pass the caller's idempotency key on to channels
// that can use it. Every outside endpoint is configurable so that tests point
// the senders at local peers.
package notify
