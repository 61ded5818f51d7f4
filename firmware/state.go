package firmware

import "time"

// State is the node's state (also sent as Status.State).
type State uint8

// The node's states, as in the design.
const (
	PowerOn       State = iota // reset vector; LED solid on
	Initializing               // sensors and radio start
	Pairing                    // advertising for a new central to bond
	Advertising                // advertising for the bonded central
	ConnectedIdle              // connected; summaries are buffered, commands served
	Streaming                  // connected; summaries are sent as they are made
	OTAUpdate                  // receiving a firmware image
	Rebooting                  // about to reset (Reboot command or a new image)
	Disconnected               // measuring and buffering; radio off until the sleep timer
	Reconnecting               // advertising briefly for the bonded central
	Error                      // a fault; retry initialization after a back-off

	numStates
)

var stateNames = [numStates]string{"power-on", "initializing", "pairing", "advertising", "connected-idle",
	"streaming", "ota-update", "rebooting", "disconnected", "reconnecting", "error"}

// String returns the state's name.
func (s State) String() string {
	if s >= numStates {
		return "unknown"
	}
	return stateNames[s]
}

// Event drives the state machine.
type Event uint8

// Events.
const (
	EvBoot         Event = iota // the core started
	EvInitOK                    // sensors and radio ready
	EvInitFailed                // a sensor or the radio did not start
	EvConnected                 // a central connected (and was admitted)
	EvDisconnected              // the central went away
	EvBonded                    // pairing finished with a bond
	EvPair                      // EnterPairing command or the button held
	EvStartStream               // StartStreaming or ResumeFrom command
	EvStopStream                // StopStreaming command
	EvOTABegin                  // an OTA Begin was accepted
	EvOTADone                   // the image verified and was activated
	EvOTAFailed                 // the transfer was aborted or failed verification
	EvReboot                    // Reboot command, or a rollback
	EvFault                     // a sensor keeps failing
	EvTimeout                   // the state's timer ran out (see Machine.Deadline)

	numEvents
)

var eventNames = [numEvents]string{"boot", "init-ok", "init-failed", "connected", "disconnected", "bonded", "pair",
	"start-stream", "stop-stream", "ota-begin", "ota-done", "ota-failed", "reboot", "fault", "timeout"}

// String returns the event's name.
func (e Event) String() string {
	if e >= numEvents {
		return "unknown"
	}
	return eventNames[e]
}

// Transition returns the state after event e in state s; bonded says
// whether the node holds a bond (it picks Advertising or Pairing). Events
// that mean nothing in a state leave it unchanged.
func Transition(s State, e Event, bonded bool) State {
	afterInit := Pairing
	if bonded {
		afterInit = Advertising
	}
	switch e {
	case EvReboot:
		if s != PowerOn {
			return Rebooting
		}
		return s
	case EvPair:
		switch s {
		case Advertising, ConnectedIdle, Streaming, Disconnected, Reconnecting:
			return Pairing
		}
		return s
	case EvFault:
		switch s {
		case ConnectedIdle, Streaming, Disconnected, Advertising, Reconnecting, Pairing:
			return Error
		}
		return s
	}
	switch s {
	case PowerOn:
		if e == EvBoot {
			return Initializing
		}
	case Initializing:
		switch e {
		case EvInitOK:
			return afterInit
		case EvInitFailed, EvTimeout:
			return Error
		}
	case Pairing:
		switch e {
		case EvBonded:
			return ConnectedIdle
		case EvTimeout:
			if bonded {
				return Advertising
			}
			return Disconnected
		}
	case Advertising, Reconnecting:
		switch e {
		case EvConnected:
			return ConnectedIdle
		case EvTimeout:
			return Disconnected
		}
	case ConnectedIdle:
		switch e {
		case EvStartStream:
			return Streaming
		case EvOTABegin:
			return OTAUpdate
		case EvDisconnected:
			return Disconnected
		}
	case Streaming:
		switch e {
		case EvStopStream:
			return ConnectedIdle
		case EvOTABegin:
			return OTAUpdate
		case EvDisconnected:
			return Disconnected
		}
	case OTAUpdate:
		switch e {
		case EvOTADone:
			return Rebooting
		case EvOTAFailed:
			return ConnectedIdle
		case EvDisconnected:
			// The transfer's progress is in the Store; the gateway resumes.
			return Disconnected
		}
	case Disconnected:
		switch e {
		case EvTimeout:
			return Reconnecting
		case EvConnected:
			return ConnectedIdle
		}
	case Error:
		if e == EvTimeout {
			return Initializing
		}
	}
	return s
}

// Timeouts are how long a state lasts before EvTimeout. Zero fields take
// the defaults named.
type Timeouts struct {
	Init      time.Duration // Initializing; default 10 s
	Pairing   time.Duration // default 2 min
	Advertise time.Duration // Advertising; default 60 s
	Sleep     time.Duration // Disconnected, the deep-sleep timer; default 5 min
	Reconnect time.Duration // Reconnecting; default 10 s
	Retry     time.Duration // Error back-off; default 30 s
}

func (t Timeouts) of(s State) time.Duration {
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	switch s {
	case Initializing:
		return pick(t.Init, 10*time.Second)
	case Pairing:
		return pick(t.Pairing, 2*time.Minute)
	case Advertising:
		return pick(t.Advertise, 60*time.Second)
	case Disconnected:
		return pick(t.Sleep, 5*time.Minute)
	case Reconnecting:
		return pick(t.Reconnect, 10*time.Second)
	case Error:
		return pick(t.Retry, 30*time.Second)
	}
	return 0
}

// Machine is the state machine with its timer: the state, when it was
// entered, and the bond flag. It is driven by Handle and Tick with times
// from the node's injected clock.
type Machine struct {
	State    State
	Since    time.Time
	Bonded   bool
	Timeouts Timeouts
}

// Handle applies event e at now and reports whether the state changed.
func (m *Machine) Handle(e Event, now time.Time) bool {
	next := Transition(m.State, e, m.Bonded)
	if next == m.State {
		return false
	}
	m.State, m.Since = next, now
	return true
}

// Deadline returns when the current state times out; zero when it does not.
func (m *Machine) Deadline() time.Time {
	d := m.Timeouts.of(m.State)
	if d == 0 {
		return time.Time{}
	}
	return m.Since.Add(d)
}

// Tick fires EvTimeout when the state's deadline has passed.
func (m *Machine) Tick(now time.Time) bool {
	if dl := m.Deadline(); !dl.IsZero() && !now.Before(dl) {
		return m.Handle(EvTimeout, now)
	}
	return false
}

// Pattern is an LED pattern: Blinks flashes of On each (separated by On
// dark) at the start of every Period. Blinks 0 means off; On == Period
// means solid.
type Pattern struct {
	On, Period time.Duration
	Blinks     int
}

// LED returns the pattern of state s. Patterns are told apart by eye:
// solid, fast, double, slow, short flashes, triple, off.
func LED(s State) Pattern {
	ms := time.Millisecond
	switch s {
	case PowerOn, Rebooting:
		return Pattern{On: time.Second, Period: time.Second, Blinks: 1} // solid
	case Initializing:
		return Pattern{On: 100 * ms, Period: 200 * ms, Blinks: 1} // fast 5 Hz
	case Pairing:
		return Pattern{On: 100 * ms, Period: time.Second, Blinks: 2} // double each second
	case Advertising:
		return Pattern{On: 200 * ms, Period: 2 * time.Second, Blinks: 1} // slow
	case ConnectedIdle:
		return Pattern{On: 30 * ms, Period: 5 * time.Second, Blinks: 1} // heartbeat
	case Streaming:
		return Pattern{On: 30 * ms, Period: time.Second, Blinks: 1} // pulse each second
	case OTAUpdate:
		return Pattern{On: 50 * ms, Period: 100 * ms, Blinks: 1} // flicker 10 Hz
	case Reconnecting:
		return Pattern{On: 100 * ms, Period: 3 * time.Second, Blinks: 2}
	case Error:
		return Pattern{On: 150 * ms, Period: 2 * time.Second, Blinks: 3} // triple
	}
	return Pattern{} // Disconnected: off, to save the battery
}

// Lit reports whether the LED is on at time t into the pattern.
func (p Pattern) Lit(t time.Duration) bool {
	if p.Blinks == 0 || p.Period <= 0 {
		return false
	}
	if p.On >= p.Period {
		return true
	}
	ph := t % p.Period
	k := ph / (2 * p.On)
	return int(k) < p.Blinks && ph%(2*p.On) < p.On
}
