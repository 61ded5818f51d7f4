package wire

// The GATT profile: one primary service and five characteristics. UUIDs
// share the base 5642xxxx-7669-6265-6d6f-6e2d626c6531 ("vibemon-ble1");
// only the 16 bits at xxxx differ.
const (
	// ServiceUUID is the VibeMon primary service a node advertises.
	ServiceUUID = "56420001-7669-6265-6d6f-6e2d626c6531"
	// DeviceInfoUUID is read-only: one DeviceInfo packet.
	DeviceInfoUUID = "56420002-7669-6265-6d6f-6e2d626c6531"
	// TelemetryUUID notifies summary, burst chunk, status and event packets.
	TelemetryUUID = "56420003-7669-6265-6d6f-6e2d626c6531"
	// ControlUUID takes control commands (write with response, encrypted).
	ControlUUID = "56420004-7669-6265-6d6f-6e2d626c6531"
	// OTAControlUUID takes OTA commands (write) and notifies OTA status.
	OTAControlUUID = "56420005-7669-6265-6d6f-6e2d626c6531"
	// OTADataUUID takes OTA data chunks (write without response).
	OTADataUUID = "56420006-7669-6265-6d6f-6e2d626c6531"
)

// Char names a characteristic of the profile, so a node's Link can route a
// notification without string compares.
type Char uint8

// The characteristics that carry notifications or writes.
const (
	CharDeviceInfo Char = iota + 1
	CharTelemetry
	CharControl
	CharOTAControl
	CharOTAData
)

// MaxPacket is the largest packet: one notification with LE data length
// extension (ATT MTU 247 minus the 3-byte ATT header).
const MaxPacket = 244

// MinMTUPayload is the notification payload of the default ATT MTU (23):
// packets longer than this are fragmented (see Fragment).
const MinMTUPayload = 20

// DefaultLocalName is the name prefix a node advertises, followed by the
// last four hex digits of its serial.
const DefaultLocalName = "VibeMon-"
