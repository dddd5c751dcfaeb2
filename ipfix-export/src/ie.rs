//! Information-element registry: the IANA IEs the meter uses and our own enterprise IEs.
//!
//! An [`Ie`] is a plain `Copy` value: name, (PEN, ID), abstract data type, semantics, units,
//! default encoded length and a one-line description. Templates carry `Ie`s by value, so a
//! template is self-describing and the same description feeds the binary encoder, RFC 5610
//! type records and the meter's JSON writer.
//!
//! Types, semantics and units come from the IANA "IPFIX Information Elements" registry
//! (RFC 7012, RFC 9565 for tcpControlBits, RFC 9740 for 513–524 and the unsigned256 type).
//! Code points of [`DataType`], [`Semantics`] and [`Units`] are the RFC 5610 / IANA
//! sub-registry values, so `as u8` / `as u16` is what goes on the wire in type records.
//!
//! Enterprise IEs ([`enterprise`]) are defined here with `pen = 0`; the PEN is a runtime
//! setting that the meter applies with [`Ie::with_pen`]. See [`crate::check_pen`] for the
//! PEN constraints.

/// Abstract data types (IANA "informationElementDataType" sub-registry, RFC 5610 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DataType {
    OctetArray = 0,
    Unsigned8 = 1,
    Unsigned16 = 2,
    Unsigned32 = 3,
    Unsigned64 = 4,
    Signed8 = 5,
    Signed16 = 6,
    Signed32 = 7,
    Signed64 = 8,
    Float32 = 9,
    Float64 = 10,
    Boolean = 11,
    MacAddress = 12,
    String = 13,
    DateTimeSeconds = 14,
    DateTimeMilliseconds = 15,
    DateTimeMicroseconds = 16,
    DateTimeNanoseconds = 17,
    Ipv4Address = 18,
    Ipv6Address = 19,
    BasicList = 20,
    SubTemplateList = 21,
    SubTemplateMultiList = 22,
    Unsigned256 = 23,
}

impl DataType {
    /// The full (not reduced) encoded length of a value of this type; [`VARLEN`] for types
    /// without a fixed size.
    pub const fn default_length(self) -> u16 {
        match self {
            DataType::Unsigned8 | DataType::Signed8 | DataType::Boolean => 1,
            DataType::Unsigned16 | DataType::Signed16 => 2,
            DataType::Unsigned32
            | DataType::Signed32
            | DataType::Float32
            | DataType::DateTimeSeconds
            | DataType::Ipv4Address => 4,
            DataType::MacAddress => 6,
            DataType::Unsigned64
            | DataType::Signed64
            | DataType::Float64
            | DataType::DateTimeMilliseconds
            | DataType::DateTimeMicroseconds
            | DataType::DateTimeNanoseconds => 8,
            DataType::Ipv6Address => 16,
            DataType::Unsigned256 => 32,
            DataType::OctetArray
            | DataType::String
            | DataType::BasicList
            | DataType::SubTemplateList
            | DataType::SubTemplateMultiList => VARLEN,
        }
    }

    /// Unsigned integer types may be sent with fewer octets (reduced-size encoding,
    /// RFC 7011 §6.2; unsigned256 per RFC 9740).
    pub const fn is_unsigned(self) -> bool {
        matches!(
            self,
            DataType::Unsigned8
                | DataType::Unsigned16
                | DataType::Unsigned32
                | DataType::Unsigned64
                | DataType::Unsigned256
        )
    }
}

/// Data type semantics (IANA "informationElementSemantics" sub-registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Semantics {
    Default = 0,
    Quantity = 1,
    TotalCounter = 2,
    DeltaCounter = 3,
    Identifier = 4,
    Flags = 5,
    List = 6,
    SnmpCounter = 7,
    SnmpGauge = 8,
}

/// Units (IANA "informationElementUnits" sub-registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Units {
    None = 0,
    Bits = 1,
    Octets = 2,
    Packets = 3,
    Flows = 4,
    Seconds = 5,
    Milliseconds = 6,
    Microseconds = 7,
    Nanoseconds = 8,
    FourOctetWords = 9,
    Messages = 10,
    Hops = 11,
    Entries = 12,
    Frames = 13,
    Ports = 14,
    Inferred = 15,
}

/// The template field length that announces a variable-length field (RFC 7011 §7).
pub const VARLEN: u16 = 0xFFFF;

/// One information element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ie {
    pub name: &'static str,
    /// Private Enterprise Number; 0 = IANA.
    pub pen: u32,
    pub id: u16,
    pub data_type: DataType,
    pub semantics: Semantics,
    pub units: Units,
    /// Default encoded length; [`VARLEN`] = variable.
    pub length: u16,
    pub description: &'static str,
}

impl Ie {
    /// An IE with the default length of its data type (PEN 0).
    pub const fn new(
        name: &'static str,
        id: u16,
        data_type: DataType,
        semantics: Semantics,
        units: Units,
        description: &'static str,
    ) -> Ie {
        Ie {
            name,
            pen: 0,
            id,
            data_type,
            semantics,
            units,
            length: data_type.default_length(),
            description,
        }
    }

    /// The same IE under another enterprise number.
    pub const fn with_pen(self, pen: u32) -> Ie {
        Ie { pen, ..self }
    }

    /// The same IE with another default encoded length.
    pub const fn with_length(self, length: u16) -> Ie {
        Ie { length, ..self }
    }

    /// True for IANA IEs (no enterprise bit on the wire).
    pub const fn is_iana(&self) -> bool {
        self.pen == 0
    }
}

use DataType as T;
use Semantics as S;
use Units as U;

/// IANA-assigned information elements (PEN 0).
pub mod iana {
    use super::{Ie, S, T, U};

    macro_rules! iana_ies {
        ($($name:ident = $ie:expr;)*) => {
            $(pub const $name: Ie = $ie;)*
            /// Every IANA IE known to this registry.
            pub const ALL: &[Ie] = &[$($name),*];
        };
    }

    iana_ies! {
        OCTET_DELTA_COUNT = Ie::new("octetDeltaCount", 1, T::Unsigned64, S::DeltaCounter, U::Octets,
            "Octets (IP header and payload) in incoming packets of this Flow since the previous report.");
        PACKET_DELTA_COUNT = Ie::new("packetDeltaCount", 2, T::Unsigned64, S::DeltaCounter, U::Packets,
            "Incoming packets of this Flow since the previous report.");
        DELTA_FLOW_COUNT = Ie::new("deltaFlowCount", 3, T::Unsigned64, S::DeltaCounter, U::Flows,
            "Conservative count of Original Flows contributing to this Aggregated Flow.");
        PROTOCOL_IDENTIFIER = Ie::new("protocolIdentifier", 4, T::Unsigned8, S::Identifier, U::None,
            "Protocol number of the IP payload (IPv6: Next Header of the last extension header).");
        IP_CLASS_OF_SERVICE = Ie::new("ipClassOfService", 5, T::Unsigned8, S::Identifier, U::None,
            "IPv4 TOS / IPv6 Traffic Class octet.");
        TCP_CONTROL_BITS = Ie::new("tcpControlBits", 6, T::Unsigned16, S::Flags, U::None,
            "TCP header flags observed in packets of this Flow (RFC 9565).");
        SOURCE_TRANSPORT_PORT = Ie::new("sourceTransportPort", 7, T::Unsigned16, S::Identifier, U::None,
            "Source port of the transport header.");
        SOURCE_IPV4_ADDRESS = Ie::new("sourceIPv4Address", 8, T::Ipv4Address, S::Default, U::None,
            "IPv4 source address in the IP packet header.");
        INGRESS_INTERFACE = Ie::new("ingressInterface", 10, T::Unsigned32, S::Identifier, U::None,
            "Index of the interface where packets of this Flow are received.");
        DESTINATION_TRANSPORT_PORT = Ie::new("destinationTransportPort", 11, T::Unsigned16, S::Identifier, U::None,
            "Destination port of the transport header.");
        DESTINATION_IPV4_ADDRESS = Ie::new("destinationIPv4Address", 12, T::Ipv4Address, S::Default, U::None,
            "IPv4 destination address in the IP packet header.");
        EGRESS_INTERFACE = Ie::new("egressInterface", 14, T::Unsigned32, S::Identifier, U::None,
            "Index of the interface where packets of this Flow are sent.");
        MINIMUM_IP_TOTAL_LENGTH = Ie::new("minimumIpTotalLength", 25, T::Unsigned64, S::Default, U::Octets,
            "Length of the smallest packet of this Flow (IP header and payload).");
        MAXIMUM_IP_TOTAL_LENGTH = Ie::new("maximumIpTotalLength", 26, T::Unsigned64, S::Default, U::Octets,
            "Length of the largest packet of this Flow (IP header and payload).");
        SOURCE_IPV6_ADDRESS = Ie::new("sourceIPv6Address", 27, T::Ipv6Address, S::Default, U::None,
            "IPv6 source address in the IP packet header.");
        DESTINATION_IPV6_ADDRESS = Ie::new("destinationIPv6Address", 28, T::Ipv6Address, S::Default, U::None,
            "IPv6 destination address in the IP packet header.");
        FLOW_LABEL_IPV6 = Ie::new("flowLabelIPv6", 31, T::Unsigned32, S::Identifier, U::None,
            "IPv6 Flow Label.");
        ICMP_TYPE_CODE_IPV4 = Ie::new("icmpTypeCodeIPv4", 32, T::Unsigned16, S::Identifier, U::None,
            "ICMP type * 256 + ICMP code (IPv4).");
        FLOW_ACTIVE_TIMEOUT = Ie::new("flowActiveTimeout", 36, T::Unsigned16, S::Default, U::Seconds,
            "Seconds after which an active Flow is timed out anyway.");
        FLOW_IDLE_TIMEOUT = Ie::new("flowIdleTimeout", 37, T::Unsigned16, S::Default, U::Seconds,
            "Seconds without packets after which a Flow is timed out.");
        EXPORTED_OCTET_TOTAL_COUNT = Ie::new("exportedOctetTotalCount", 40, T::Unsigned64, S::TotalCounter, U::Octets,
            "Octets the Exporting Process has sent to the Collecting Process.");
        EXPORTED_MESSAGE_TOTAL_COUNT = Ie::new("exportedMessageTotalCount", 41, T::Unsigned64, S::TotalCounter, U::Messages,
            "IPFIX Messages the Exporting Process has sent to the Collecting Process.");
        EXPORTED_FLOW_RECORD_TOTAL_COUNT = Ie::new("exportedFlowRecordTotalCount", 42, T::Unsigned64, S::TotalCounter, U::Flows,
            "Flow Records the Exporting Process has sent as Data Records.");
        MINIMUM_TTL = Ie::new("minimumTTL", 52, T::Unsigned8, S::Default, U::Hops,
            "Minimum TTL / Hop Limit of the packets of this Flow.");
        MAXIMUM_TTL = Ie::new("maximumTTL", 53, T::Unsigned8, S::Default, U::Hops,
            "Maximum TTL / Hop Limit of the packets of this Flow.");
        FRAGMENT_IDENTIFICATION = Ie::new("fragmentIdentification", 54, T::Unsigned32, S::Identifier, U::None,
            "Identification field of the IPv4 header or the IPv6 Fragment header.");
        SOURCE_MAC_ADDRESS = Ie::new("sourceMacAddress", 56, T::MacAddress, S::Default, U::None,
            "IEEE 802 source MAC address.");
        POST_DESTINATION_MAC_ADDRESS = Ie::new("postDestinationMacAddress", 57, T::MacAddress, S::Default, U::None,
            "Destination MAC address after a middlebox function.");
        VLAN_ID = Ie::new("vlanId", 58, T::Unsigned16, S::Identifier, U::None,
            "VLAN identifier associated with the ingress interface.");
        POST_VLAN_ID = Ie::new("postVlanId", 59, T::Unsigned16, S::Identifier, U::None,
            "VLAN identifier associated with the egress interface.");
        IP_VERSION = Ie::new("ipVersion", 60, T::Unsigned8, S::Identifier, U::None,
            "IP version field of the IP header.");
        FLOW_DIRECTION = Ie::new("flowDirection", 61, T::Unsigned8, S::Identifier, U::None,
            "Direction of the Flow at the Observation Point: 0 ingress, 1 egress.");
        IPV6_EXTENSION_HEADERS = Ie::new("ipv6ExtensionHeaders", 64, T::Unsigned32, S::Flags, U::None,
            "Deprecated (RFC 9740): IPv6 extension headers seen in packets of this Flow.");
        MPLS_TOP_LABEL_STACK_SECTION = Ie::new("mplsTopLabelStackSection", 70, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the top MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION2 = Ie::new("mplsLabelStackSection2", 71, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 2nd MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION3 = Ie::new("mplsLabelStackSection3", 72, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 3rd MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION4 = Ie::new("mplsLabelStackSection4", 73, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 4th MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION5 = Ie::new("mplsLabelStackSection5", 74, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 5th MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION6 = Ie::new("mplsLabelStackSection6", 75, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 6th MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION7 = Ie::new("mplsLabelStackSection7", 76, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 7th MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION8 = Ie::new("mplsLabelStackSection8", 77, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 8th MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION9 = Ie::new("mplsLabelStackSection9", 78, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 9th MPLS label stack entry (3 octets).").with_length(3);
        MPLS_LABEL_STACK_SECTION10 = Ie::new("mplsLabelStackSection10", 79, T::OctetArray, S::Identifier, U::None,
            "Label, Exp and S fields of the 10th MPLS label stack entry (3 octets).").with_length(3);
        DESTINATION_MAC_ADDRESS = Ie::new("destinationMacAddress", 80, T::MacAddress, S::Default, U::None,
            "IEEE 802 destination MAC address.");
        POST_SOURCE_MAC_ADDRESS = Ie::new("postSourceMacAddress", 81, T::MacAddress, S::Default, U::None,
            "Source MAC address after a middlebox function.");
        OCTET_TOTAL_COUNT = Ie::new("octetTotalCount", 85, T::Unsigned64, S::TotalCounter, U::Octets,
            "Octets (IP header and payload) in incoming packets of this Flow since Metering Process (re-)initialization.");
        PACKET_TOTAL_COUNT = Ie::new("packetTotalCount", 86, T::Unsigned64, S::TotalCounter, U::Packets,
            "Incoming packets of this Flow since Metering Process (re-)initialization.");
        FRAGMENT_OFFSET = Ie::new("fragmentOffset", 88, T::Unsigned16, S::Identifier, U::None,
            "Fragment offset of the IPv4 header or the IPv6 Fragment header.");
        EXPORTER_IPV4_ADDRESS = Ie::new("exporterIPv4Address", 130, T::Ipv4Address, S::Default, U::None,
            "IPv4 address used by the Exporting Process.");
        EXPORTER_IPV6_ADDRESS = Ie::new("exporterIPv6Address", 131, T::Ipv6Address, S::Default, U::None,
            "IPv6 address used by the Exporting Process.");
        DROPPED_PACKET_TOTAL_COUNT = Ie::new("droppedPacketTotalCount", 135, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets dropped by packet treatment since Metering Process (re-)initialization.");
        FLOW_END_REASON = Ie::new("flowEndReason", 136, T::Unsigned8, S::Identifier, U::None,
            "Reason for Flow termination: 1 idle, 2 active, 3 end detected, 4 forced end, 5 lack of resources.");
        OBSERVATION_POINT_ID = Ie::new("observationPointId", 138, T::Unsigned64, S::Identifier, U::None,
            "Identifier of an Observation Point, unique per Observation Domain.");
        ICMP_TYPE_CODE_IPV6 = Ie::new("icmpTypeCodeIPv6", 139, T::Unsigned16, S::Identifier, U::None,
            "ICMP type * 256 + ICMP code (IPv6).");
        METERING_PROCESS_ID = Ie::new("meteringProcessId", 143, T::Unsigned32, S::Identifier, U::None,
            "Identifier of a Metering Process, unique per IPFIX Device.");
        EXPORTING_PROCESS_ID = Ie::new("exportingProcessId", 144, T::Unsigned32, S::Identifier, U::None,
            "Identifier of an Exporting Process, unique per IPFIX Device.");
        TEMPLATE_ID = Ie::new("templateId", 145, T::Unsigned16, S::Identifier, U::None,
            "Identifier of a Template, unique per Transport Session and Observation Domain.");
        FLOW_ID = Ie::new("flowId", 148, T::Unsigned64, S::Identifier, U::None,
            "Identifier of a Flow, unique within an Observation Domain.");
        OBSERVATION_DOMAIN_ID = Ie::new("observationDomainId", 149, T::Unsigned32, S::Identifier, U::None,
            "Identifier of an Observation Domain, locally unique to an Exporting Process.");
        FLOW_START_SECONDS = Ie::new("flowStartSeconds", 150, T::DateTimeSeconds, S::Default, U::Seconds,
            "Absolute timestamp of the first packet of this Flow.");
        FLOW_END_SECONDS = Ie::new("flowEndSeconds", 151, T::DateTimeSeconds, S::Default, U::Seconds,
            "Absolute timestamp of the last packet of this Flow.");
        FLOW_START_MILLISECONDS = Ie::new("flowStartMilliseconds", 152, T::DateTimeMilliseconds, S::Default, U::Milliseconds,
            "Absolute timestamp of the first packet of this Flow.");
        FLOW_END_MILLISECONDS = Ie::new("flowEndMilliseconds", 153, T::DateTimeMilliseconds, S::Default, U::Milliseconds,
            "Absolute timestamp of the last packet of this Flow.");
        FLOW_START_MICROSECONDS = Ie::new("flowStartMicroseconds", 154, T::DateTimeMicroseconds, S::Default, U::Microseconds,
            "Absolute timestamp of the first packet of this Flow (NTP format).");
        FLOW_END_MICROSECONDS = Ie::new("flowEndMicroseconds", 155, T::DateTimeMicroseconds, S::Default, U::Microseconds,
            "Absolute timestamp of the last packet of this Flow (NTP format).");
        FLOW_START_NANOSECONDS = Ie::new("flowStartNanoseconds", 156, T::DateTimeNanoseconds, S::Default, U::Nanoseconds,
            "Absolute timestamp of the first packet of this Flow (NTP format).");
        FLOW_END_NANOSECONDS = Ie::new("flowEndNanoseconds", 157, T::DateTimeNanoseconds, S::Default, U::Nanoseconds,
            "Absolute timestamp of the last packet of this Flow (NTP format).");
        FLOW_START_DELTA_MICROSECONDS = Ie::new("flowStartDeltaMicroseconds", 158, T::Unsigned32, S::Default, U::Microseconds,
            "First packet of this Flow, relative to the message's export time.");
        FLOW_END_DELTA_MICROSECONDS = Ie::new("flowEndDeltaMicroseconds", 159, T::Unsigned32, S::Default, U::Microseconds,
            "Last packet of this Flow, relative to the message's export time.");
        SYSTEM_INIT_TIME_MILLISECONDS = Ie::new("systemInitTimeMilliseconds", 160, T::DateTimeMilliseconds, S::Default, U::Milliseconds,
            "Absolute timestamp of the last (re-)initialization of the IPFIX Device.");
        FLOW_DURATION_MILLISECONDS = Ie::new("flowDurationMilliseconds", 161, T::Unsigned32, S::Default, U::Milliseconds,
            "Time between the first and the last packet of this Flow.");
        FLOW_DURATION_MICROSECONDS = Ie::new("flowDurationMicroseconds", 162, T::Unsigned32, S::Default, U::Microseconds,
            "Time between the first and the last packet of this Flow.");
        OBSERVED_FLOW_TOTAL_COUNT = Ie::new("observedFlowTotalCount", 163, T::Unsigned64, S::TotalCounter, U::Flows,
            "Flows observed in the Observation Domain since Metering Process (re-)initialization.");
        IGNORED_PACKET_TOTAL_COUNT = Ie::new("ignoredPacketTotalCount", 164, T::Unsigned64, S::TotalCounter, U::Packets,
            "Observed IP packets the Metering Process did not process.");
        IGNORED_OCTET_TOTAL_COUNT = Ie::new("ignoredOctetTotalCount", 165, T::Unsigned64, S::TotalCounter, U::Octets,
            "Octets in observed IP packets the Metering Process did not process.");
        NOT_SENT_FLOW_TOTAL_COUNT = Ie::new("notSentFlowTotalCount", 166, T::Unsigned64, S::TotalCounter, U::Flows,
            "Flow Records generated and then dropped instead of being sent.");
        NOT_SENT_PACKET_TOTAL_COUNT = Ie::new("notSentPacketTotalCount", 167, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets in Flow Records generated and then dropped instead of being sent.");
        NOT_SENT_OCTET_TOTAL_COUNT = Ie::new("notSentOctetTotalCount", 168, T::Unsigned64, S::TotalCounter, U::Octets,
            "Octets in packets in Flow Records generated and then dropped instead of being sent.");
        FLOW_KEY_INDICATOR = Ie::new("flowKeyIndicator", 173, T::Unsigned64, S::Flags, U::None,
            "Bit n set = the n-th field of the Data Record is a Flow Key.");
        ICMP_TYPE_IPV4 = Ie::new("icmpTypeIPv4", 176, T::Unsigned8, S::Identifier, U::None,
            "Type of the IPv4 ICMP message.");
        ICMP_CODE_IPV4 = Ie::new("icmpCodeIPv4", 177, T::Unsigned8, S::Identifier, U::None,
            "Code of the IPv4 ICMP message.");
        ICMP_TYPE_IPV6 = Ie::new("icmpTypeIPv6", 178, T::Unsigned8, S::Identifier, U::None,
            "Type of the IPv6 ICMP message.");
        ICMP_CODE_IPV6 = Ie::new("icmpCodeIPv6", 179, T::Unsigned8, S::Identifier, U::None,
            "Code of the IPv6 ICMP message.");
        TCP_SEQUENCE_NUMBER = Ie::new("tcpSequenceNumber", 184, T::Unsigned32, S::Default, U::None,
            "Sequence number in the TCP header.");
        TCP_ACKNOWLEDGEMENT_NUMBER = Ie::new("tcpAcknowledgementNumber", 185, T::Unsigned32, S::Default, U::None,
            "Acknowledgement number in the TCP header.");
        TCP_WINDOW_SIZE = Ie::new("tcpWindowSize", 186, T::Unsigned16, S::Default, U::None,
            "Window field in the TCP header.");
        TCP_URGENT_POINTER = Ie::new("tcpUrgentPointer", 187, T::Unsigned16, S::Default, U::None,
            "Urgent pointer in the TCP header.");
        TCP_HEADER_LENGTH = Ie::new("tcpHeaderLength", 188, T::Unsigned8, S::Default, U::Octets,
            "Length of the TCP header in octets.");
        IP_HEADER_LENGTH = Ie::new("ipHeaderLength", 189, T::Unsigned8, S::Default, U::Octets,
            "Length of the IP header in octets.");
        IP_TTL = Ie::new("ipTTL", 192, T::Unsigned8, S::Default, U::Hops,
            "IPv4 TTL / IPv6 Hop Limit.");
        NEXT_HEADER_IPV6 = Ie::new("nextHeaderIPv6", 193, T::Unsigned8, S::Default, U::None,
            "Next Header field of the IPv6 header.");
        FRAGMENT_FLAGS = Ie::new("fragmentFlags", 197, T::Unsigned8, S::Flags, U::None,
            "Fragmentation flags of the IPv4 header or the IPv6 Fragment header.");
        MPLS_TOP_LABEL_TTL = Ie::new("mplsTopLabelTTL", 200, T::Unsigned8, S::Default, U::Hops,
            "TTL of the top MPLS label stack entry.");
        MPLS_LABEL_STACK_LENGTH = Ie::new("mplsLabelStackLength", 201, T::Unsigned32, S::Default, U::Octets,
            "Length of the MPLS label stack in octets.");
        MPLS_LABEL_STACK_DEPTH = Ie::new("mplsLabelStackDepth", 202, T::Unsigned32, S::Default, U::Entries,
            "Number of labels in the MPLS label stack.");
        MPLS_TOP_LABEL_EXP = Ie::new("mplsTopLabelExp", 203, T::Unsigned8, S::Flags, U::None,
            "Exp field of the top MPLS label stack entry.");
        IPV4_IHL = Ie::new("ipv4IHL", 207, T::Unsigned8, S::Default, U::FourOctetWords,
            "Internet Header Length field of the IPv4 header (4-octet units).");
        IPV4_OPTIONS = Ie::new("ipv4Options", 208, T::Unsigned32, S::Flags, U::None,
            "IPv4 options seen in packets of this Flow.");
        TCP_OPTIONS = Ie::new("tcpOptions", 209, T::Unsigned64, S::Flags, U::None,
            "Deprecated (RFC 9740): TCP option kinds 0-63 seen in packets of this Flow.");
        TCP_SYN_TOTAL_COUNT = Ie::new("tcpSynTotalCount", 218, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets of this Flow with the TCP SYN flag.");
        TCP_FIN_TOTAL_COUNT = Ie::new("tcpFinTotalCount", 219, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets of this Flow with the TCP FIN flag.");
        TCP_RST_TOTAL_COUNT = Ie::new("tcpRstTotalCount", 220, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets of this Flow with the TCP RST flag.");
        TCP_PSH_TOTAL_COUNT = Ie::new("tcpPshTotalCount", 221, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets of this Flow with the TCP PSH flag.");
        TCP_ACK_TOTAL_COUNT = Ie::new("tcpAckTotalCount", 222, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets of this Flow with the TCP ACK flag.");
        TCP_URG_TOTAL_COUNT = Ie::new("tcpUrgTotalCount", 223, T::Unsigned64, S::TotalCounter, U::Packets,
            "Packets of this Flow with the TCP URG flag.");
        INITIATOR_OCTETS = Ie::new("initiatorOctets", 231, T::Unsigned64, S::Default, U::Octets,
            "Layer 4 payload octets from the initiator.");
        RESPONDER_OCTETS = Ie::new("responderOctets", 232, T::Unsigned64, S::Default, U::Octets,
            "Layer 4 payload octets from the responder.");
        TCP_WINDOW_SCALE = Ie::new("tcpWindowScale", 238, T::Unsigned16, S::Default, U::None,
            "Scale of the window field in the TCP header.");
        BIFLOW_DIRECTION = Ie::new("biflowDirection", 239, T::Unsigned8, S::Identifier, U::None,
            "Direction assignment method of a Biflow: 0 arbitrary, 1 initiator, 2 reverseInitiator, 3 perimeter.");
        DOT1Q_VLAN_ID = Ie::new("dot1qVlanId", 243, T::Unsigned16, S::Identifier, U::None,
            "VLAN identifier of the (outer) 802.1Q tag.");
        DOT1Q_PRIORITY = Ie::new("dot1qPriority", 244, T::Unsigned8, S::Identifier, U::None,
            "User priority of the (outer) 802.1Q tag.");
        DOT1Q_CUSTOMER_VLAN_ID = Ie::new("dot1qCustomerVlanId", 245, T::Unsigned16, S::Identifier, U::None,
            "VLAN identifier of the customer (inner) 802.1Q tag.");
        DOT1Q_CUSTOMER_PRIORITY = Ie::new("dot1qCustomerPriority", 246, T::Unsigned8, S::Identifier, U::None,
            "User priority of the customer (inner) 802.1Q tag.");
        ETHERNET_TYPE = Ie::new("ethernetType", 256, T::Unsigned16, S::Identifier, U::None,
            "Ethernet type of the frame.");
        BASIC_LIST = Ie::new("basicList", 291, T::BasicList, S::List, U::None,
            "Generic basicList.");
        SUB_TEMPLATE_LIST = Ie::new("subTemplateList", 292, T::SubTemplateList, S::List, U::None,
            "Generic subTemplateList.");
        SUB_TEMPLATE_MULTI_LIST = Ie::new("subTemplateMultiList", 293, T::SubTemplateMultiList, S::List, U::None,
            "Generic subTemplateMultiList.");
        IPSEC_SPI = Ie::new("IPSecSPI", 295, T::Unsigned32, S::Identifier, U::None,
            "IPsec Security Parameters Index.");
        GRE_KEY = Ie::new("greKey", 296, T::Unsigned32, S::Identifier, U::None,
            "GRE key of a tunnelled flow.");
        INITIATOR_PACKETS = Ie::new("initiatorPackets", 298, T::Unsigned64, S::Identifier, U::Packets,
            "Layer 4 packets from the initiator.");
        RESPONDER_PACKETS = Ie::new("responderPackets", 299, T::Unsigned64, S::Identifier, U::Packets,
            "Layer 4 packets from the responder.");
        INFORMATION_ELEMENT_ID = Ie::new("informationElementId", 303, T::Unsigned16, S::Identifier, U::None,
            "The ID of another Information Element.");
        SELECTOR_ALGORITHM = Ie::new("selectorAlgorithm", 304, T::Unsigned16, S::Identifier, U::None,
            "Packet selection method (1 = systematic count-based sampling).");
        SAMPLING_PACKET_INTERVAL = Ie::new("samplingPacketInterval", 305, T::Unsigned32, S::Quantity, U::Packets,
            "Number of packets that are consecutively sampled.");
        SAMPLING_PACKET_SPACE = Ie::new("samplingPacketSpace", 306, T::Unsigned32, S::Quantity, U::Packets,
            "Number of packets between two sampling intervals.");
        OBSERVATION_TIME_SECONDS = Ie::new("observationTimeSeconds", 322, T::DateTimeSeconds, S::Quantity, U::Seconds,
            "Absolute time of an observation.");
        OBSERVATION_TIME_MILLISECONDS = Ie::new("observationTimeMilliseconds", 323, T::DateTimeMilliseconds, S::Quantity, U::Milliseconds,
            "Absolute time of an observation.");
        OBSERVATION_TIME_MICROSECONDS = Ie::new("observationTimeMicroseconds", 324, T::DateTimeMicroseconds, S::Quantity, U::Microseconds,
            "Absolute time of an observation (NTP format).");
        OBSERVATION_TIME_NANOSECONDS = Ie::new("observationTimeNanoseconds", 325, T::DateTimeNanoseconds, S::Quantity, U::Nanoseconds,
            "Absolute time of an observation (NTP format).");
        INFORMATION_ELEMENT_DATA_TYPE = Ie::new("informationElementDataType", 339, T::Unsigned8, S::Default, U::None,
            "Abstract data type of an Information Element (RFC 5610).");
        INFORMATION_ELEMENT_DESCRIPTION = Ie::new("informationElementDescription", 340, T::String, S::Default, U::None,
            "Human-readable description of an Information Element (RFC 5610).");
        INFORMATION_ELEMENT_NAME = Ie::new("informationElementName", 341, T::String, S::Default, U::None,
            "Name of an Information Element (RFC 5610).");
        INFORMATION_ELEMENT_RANGE_BEGIN = Ie::new("informationElementRangeBegin", 342, T::Unsigned64, S::Quantity, U::None,
            "Inclusive low end of the range of an Information Element (RFC 5610).");
        INFORMATION_ELEMENT_RANGE_END = Ie::new("informationElementRangeEnd", 343, T::Unsigned64, S::Quantity, U::None,
            "Inclusive high end of the range of an Information Element (RFC 5610).");
        INFORMATION_ELEMENT_SEMANTICS = Ie::new("informationElementSemantics", 344, T::Unsigned8, S::Default, U::None,
            "Data type semantics of an Information Element (RFC 5610).");
        INFORMATION_ELEMENT_UNITS = Ie::new("informationElementUnits", 345, T::Unsigned16, S::Default, U::None,
            "Units of an Information Element (RFC 5610).");
        PRIVATE_ENTERPRISE_NUMBER = Ie::new("privateEnterpriseNumber", 346, T::Unsigned32, S::Identifier, U::None,
            "A private enterprise number, as assigned by IANA.");
        LAYER2_SEGMENT_ID = Ie::new("layer2SegmentId", 351, T::Unsigned64, S::Identifier, U::None,
            "Identifier of a layer 2 segment in an overlay network (e.g. VXLAN VNI).");
        LAYER2_OCTET_DELTA_COUNT = Ie::new("layer2OctetDeltaCount", 352, T::Unsigned64, S::DeltaCounter, U::Octets,
            "Layer 2 octets in incoming packets of this Flow since the previous report.");
        LAYER2_OCTET_TOTAL_COUNT = Ie::new("layer2OctetTotalCount", 353, T::Unsigned64, S::TotalCounter, U::Octets,
            "Layer 2 octets in incoming packets of this Flow since Metering Process (re-)initialization.");
        DOT1Q_DEI = Ie::new("dot1qDEI", 388, T::Boolean, S::Default, U::None,
            "Drop Eligible Indicator of the (outer) 802.1Q tag.");
        DOT1Q_CUSTOMER_DEI = Ie::new("dot1qCustomerDEI", 389, T::Boolean, S::Default, U::None,
            "Drop Eligible Indicator of the customer (inner) 802.1Q tag.");
        IPV6_EXTENSION_HEADER_TYPE = Ie::new("ipv6ExtensionHeaderType", 513, T::Unsigned8, S::Identifier, U::None,
            "Type of an IPv6 extension header (RFC 9740).");
        IPV6_EXTENSION_HEADER_COUNT = Ie::new("ipv6ExtensionHeaderCount", 514, T::Unsigned8, S::TotalCounter, U::None,
            "Consecutive occurrences of an IPv6 extension header type (RFC 9740).");
        IPV6_EXTENSION_HEADERS_FULL = Ie::new("ipv6ExtensionHeadersFull", 515, T::Unsigned256, S::Flags, U::None,
            "IPv6 extension headers seen in packets of this Flow, one bit per header type, bit 0 = LSB (RFC 9740).");
        IPV6_EXTENSION_HEADER_TYPE_COUNT_LIST = Ie::new("ipv6ExtensionHeaderTypeCountList", 516, T::SubTemplateList, S::List, U::None,
            "Ordered (type, count) pairs of an IPv6 extension header chain (RFC 9740).");
        IPV6_EXTENSION_HEADERS_LIMIT = Ie::new("ipv6ExtensionHeadersLimit", 517, T::Boolean, S::Default, U::None,
            "False when the extension header chain was not fully parsed because of a limit (RFC 9740).");
        IPV6_EXTENSION_HEADERS_CHAIN_LENGTH = Ie::new("ipv6ExtensionHeadersChainLength", 518, T::Unsigned32, S::Default, U::Octets,
            "Length in octets of the IPv6 extension header chain (RFC 9740).");
        IPV6_EXTENSION_HEADER_CHAIN_LENGTH_LIST = Ie::new("ipv6ExtensionHeaderChainLengthList", 519, T::SubTemplateList, S::List, U::None,
            "Extension headers and chain length per IPv6 extension header chain (RFC 9740).");
        TCP_OPTIONS_FULL = Ie::new("tcpOptionsFull", 520, T::Unsigned256, S::Flags, U::None,
            "TCP option kinds seen in packets of this Flow, bit k = kind k, kind 0 = LSB (RFC 9740).");
        TCP_SHARED_OPTION_EX_ID16 = Ie::new("tcpSharedOptionExID16", 521, T::Unsigned16, S::Identifier, U::None,
            "2-octet ExID of a shared experimental TCP option (RFC 9740).");
        TCP_SHARED_OPTION_EX_ID32 = Ie::new("tcpSharedOptionExID32", 522, T::Unsigned32, S::Identifier, U::None,
            "4-octet ExID of a shared experimental TCP option (RFC 9740).");
        TCP_SHARED_OPTION_EX_ID16_LIST = Ie::new("tcpSharedOptionExID16List", 523, T::BasicList, S::List, U::None,
            "List of 2-octet ExIDs of shared experimental TCP options (RFC 9740).");
        TCP_SHARED_OPTION_EX_ID32_LIST = Ie::new("tcpSharedOptionExID32List", 524, T::BasicList, S::List, U::None,
            "List of 4-octet ExIDs of shared experimental TCP options (RFC 9740).");
    }
}

/// Our own enterprise IEs (reference §4.4), defined with `pen = 0`: the meter applies the
/// operator's PEN with [`Ie::with_pen`] at runtime. IDs 1100–1149 are free both in IANA
/// (max 533) and in CERT's space; reverse directions would use `0x4000 | id`.
pub mod enterprise {
    use super::{Ie, S, T, U};

    macro_rules! enterprise_ies {
        ($($name:ident = $ie:expr;)*) => {
            $(pub const $name: Ie = $ie;)*
            /// Every enterprise IE (for RFC 5610 type records).
            pub const ALL: &[Ie] = &[$($name),*];
        };
    }

    enterprise_ies! {
        MPTCP_OPTION_SUBTYPES = Ie::new("mptcpOptionSubtypes", 1100, T::Unsigned16, S::Flags, U::None,
            "MPTCP option subtypes seen in this direction: bit n = subtype n (0 MP_CAPABLE .. 8 MP_TCPRST, 15 MP_EXPERIMENTAL).");
        MPTCP_VERSION = Ie::new("mptcpVersion", 1101, T::Unsigned8, S::Identifier, U::None,
            "Version of MP_CAPABLE (0 or 1); 255 = not seen.");
        MPTCP_CAPABLE_FLAGS = Ie::new("mptcpCapableFlags", 1102, T::Unsigned8, S::Flags, U::None,
            "Flags octet (A..H) of the MP_CAPABLE sent in this direction.");
        MPTCP_SENDER_TOKEN = Ie::new("mptcpSenderToken", 1103, T::Unsigned32, S::Identifier, U::None,
            "MPTCP token of the sender of this direction, derived from its key (or from an MP_JOIN SYN); 0 = unknown.");
        MPTCP_IDSN = Ie::new("mptcpIdsn", 1104, T::Unsigned64, S::Identifier, U::None,
            "MPTCP initial data sequence number derived from the sender's key.");
        MPTCP_ADDRESS_ID = Ie::new("mptcpAddressId", 1105, T::Unsigned8, S::Identifier, U::None,
            "MPTCP Address ID from MP_JOIN (SYN forward, SYN-ACK reverse) or ADD_ADDR/REMOVE_ADDR.");
        MPTCP_FLAGS = Ie::new("mptcpFlags", 1106, T::Unsigned16, S::Flags, U::None,
            "MPTCP events: 0x1 backup join, 0x2/0x4 MP_PRIO B=1/B=0, 0x8 checksum, 0x10 MP_FAIL, 0x20 MP_FASTCLOSE, 0x40 MP_TCPRST, 0x80 transient, 0x100 DATA_FIN, 0x200 fallback, 0x400 ADD_ADDR echo, 0x800 C flag, 0x1000 keys incomplete, 0x2000 32-bit DSN.");
        MPTCP_RST_REASON = Ie::new("mptcpRstReason", 1107, T::Unsigned8, S::Identifier, U::None,
            "Reason code of the last MP_TCPRST.");
        MPTCP_DSN_FIRST = Ie::new("mptcpDsnFirst", 1108, T::Unsigned64, S::Identifier, U::None,
            "First data sequence number seen in a DSS mapping.");
        MPTCP_DSN_LAST = Ie::new("mptcpDsnLast", 1109, T::Unsigned64, S::Identifier, U::None,
            "Last data sequence number seen in a DSS mapping.");
        MPTCP_DATA_ACK_LAST = Ie::new("mptcpDataAckLast", 1110, T::Unsigned64, S::Identifier, U::None,
            "Last MPTCP Data ACK seen.");
        MPTCP_MAPPED_OCTET_DELTA_COUNT = Ie::new("mptcpMappedOctetDeltaCount", 1111, T::Unsigned64, S::DeltaCounter, U::Octets,
            "Sum of the Data-Level Lengths of the DSS mappings seen (connection-level octets carried on this subflow).");
        MPTCP_ADD_ADDR_COUNT = Ie::new("mptcpAddAddrCount", 1112, T::Unsigned16, S::TotalCounter, U::None,
            "Number of ADD_ADDR options seen.");
        MPTCP_REMOVE_ADDR_COUNT = Ie::new("mptcpRemoveAddrCount", 1113, T::Unsigned16, S::TotalCounter, U::None,
            "Number of REMOVE_ADDR options seen.");
        MPTCP_ADVERTISED_ADDRESS_LIST = Ie::new("mptcpAdvertisedAddressList", 1114, T::SubTemplateList, S::List, U::None,
            "Addresses advertised with ADD_ADDR: records of address ID, address, port and echo flag.");
        MPTCP_ADVERTISED_IPV4_ADDRESS = Ie::new("mptcpAdvertisedIPv4Address", 1115, T::Ipv4Address, S::Default, U::None,
            "IPv4 address advertised with ADD_ADDR.");
        MPTCP_ADVERTISED_IPV6_ADDRESS = Ie::new("mptcpAdvertisedIPv6Address", 1116, T::Ipv6Address, S::Default, U::None,
            "IPv6 address advertised with ADD_ADDR.");
        MPTCP_ADVERTISED_PORT = Ie::new("mptcpAdvertisedPort", 1117, T::Unsigned16, S::Default, U::None,
            "Port advertised with ADD_ADDR; 0 = none.");
        MPTCP_ADD_ADDR_ECHO = Ie::new("mptcpAddAddrEcho", 1118, T::Boolean, S::Default, U::None,
            "True if the ADD_ADDR was an echo.");
        MPTCP_REMOVED_ADDRESS_ID_LIST = Ie::new("mptcpRemovedAddressIdList", 1119, T::BasicList, S::List, U::None,
            "Address IDs from REMOVE_ADDR options (basicList of mptcpAddressId).");
        MPTCP_FIRST_ADVERTISED_IPV4_ADDRESS = Ie::new("mptcpFirstAdvertisedIPv4Address", 1120, T::Ipv4Address, S::Default, U::None,
            "IPv4 address of the first non-echo ADD_ADDR seen.");
        MPTCP_FIRST_ADVERTISED_IPV6_ADDRESS = Ie::new("mptcpFirstAdvertisedIPv6Address", 1121, T::Ipv6Address, S::Default, U::None,
            "IPv6 address of the first non-echo ADD_ADDR seen.");
        MPTCP_FIRST_ADVERTISED_PORT = Ie::new("mptcpFirstAdvertisedPort", 1122, T::Unsigned16, S::Default, U::None,
            "Port of the first non-echo ADD_ADDR seen; 0 = none.");
        MPTCP_RECEIVER_TOKEN = Ie::new("mptcpReceiverToken", 1123, T::Unsigned32, S::Identifier, U::None,
            "MPTCP token of the peer of this direction, from the peer's key or from an MP_JOIN SYN's receiver token; 0 = unknown.");
        TCP_MAXIMUM_SEGMENT_SIZE = Ie::new("tcpMaximumSegmentSize", 1130, T::Unsigned16, S::Quantity, U::Octets,
            "Value of the TCP MSS option.");
        TCP_SACK_PERMITTED = Ie::new("tcpSackPermitted", 1131, T::Boolean, S::Default, U::None,
            "True if the TCP SACK-permitted option was seen.");
        TCP_TIMESTAMP_FIRST = Ie::new("tcpTimestampFirst", 1132, T::Unsigned32, S::Identifier, U::None,
            "First TCP timestamp value (TSval) seen.");
        TCP_TIMESTAMP_LAST = Ie::new("tcpTimestampLast", 1133, T::Unsigned32, S::Identifier, U::None,
            "Last TCP timestamp value (TSval) seen.");
        CAPTURE_XDP_SEEN = Ie::new("captureXdpSeenTotalCount", 1140, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames the meter's XDP program saw on the watched receive queues.");
        CAPTURE_XDP_REDIRECTED = Ie::new("captureXdpRedirectedTotalCount", 1141, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames the XDP program redirected to the meter's AF_XDP sockets.");
        CAPTURE_XDP_PASSED = Ie::new("captureXdpPassedTotalCount", 1142, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames left to the kernel because no meter socket was bound to their queue.");
        CAPTURE_PREFILTER_DROPPED = Ie::new("capturePrefilterDroppedTotalCount", 1143, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames the XDP pre-filter dropped on purpose (operator rules).");
        CAPTURE_XDP_UNPARSABLE = Ie::new("captureXdpUnparsableTotalCount", 1144, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames the pre-filter could not parse (not IP, truncated); they were still metered.");
        CAPTURE_SOCKET_DROPPED = Ie::new("captureSocketDroppedTotalCount", 1145, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames an AF_XDP socket dropped: too long for a UMEM frame or no free frame (XDP_STATISTICS rx_dropped).");
        CAPTURE_SOCKET_RING_FULL = Ie::new("captureSocketRingFullTotalCount", 1146, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames lost because a receive ring was full: the worker fell behind (XDP_STATISTICS rx_ring_full).");
        CAPTURE_SOCKET_INVALID = Ie::new("captureSocketInvalidDescTotalCount", 1147, T::Unsigned64, S::TotalCounter, U::Packets,
            "Frames lost to invalid descriptors (XDP_STATISTICS rx_invalid_descs).");
        CAPTURE_FILL_RING_EMPTY = Ie::new("captureFillRingEmptyTotalCount", 1148, T::Unsigned64, S::TotalCounter, U::None,
            "Times a socket found its fill ring empty (a cause of captureSocketDroppedTotalCount).");
    }
}

/// Look up an IE by (PEN, ID): PEN 0 searches the IANA registry, any other PEN the
/// enterprise IEs (whose PEN is only known at runtime). The returned IE has the PEN of the
/// registry entry (0); apply [`Ie::with_pen`] for the runtime one.
pub fn lookup(pen: u32, id: u16) -> Option<&'static Ie> {
    let table = if pen == 0 { iana::ALL } else { enterprise::ALL };
    table.iter().find(|ie| ie.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [iana::ALL, enterprise::ALL] {
            for w in table.windows(2) {
                assert!(w[0].id < w[1].id, "{} before {}", w[0].name, w[1].name);
            }
            for ie in table {
                assert_eq!(ie.pen, 0);
                assert!(ie.id <= 0x7FFF);
                assert!(!ie.description.is_empty() && ie.description.len() < 255);
                assert!(
                    ie.name.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{}",
                    ie.name
                );
            }
        }
    }

    #[test]
    fn every_ie_the_task_names_is_present() {
        let ids = [
            1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 27, 28, 31, 32, 36, 37, 40, 41, 42, 52, 53, 58, 60,
            70, 85, 86, 135, 136, 139, 144, 145, 149, 152, 153, 160, 163, 164, 165, 166, 167, 168,
            184, 197, 202, 209, 238, 239, 243, 245, 303, 304, 305, 306, 323, 339, 340, 341, 342,
            343, 344, 345, 346, 352, 515, 517, 520,
        ];
        for id in ids {
            assert!(lookup(0, id).is_some(), "IANA IE {id} missing");
        }
        // Spot checks against the IANA registry.
        let t = lookup(0, 6).unwrap();
        assert_eq!(
            (t.name, t.data_type, t.semantics),
            ("tcpControlBits", DataType::Unsigned16, Semantics::Flags)
        );
        let t = lookup(0, 517).unwrap();
        assert_eq!(
            (t.name, t.data_type, t.length),
            ("ipv6ExtensionHeadersLimit", DataType::Boolean, 1)
        );
        let t = lookup(0, 515).unwrap();
        assert_eq!((t.data_type, t.length), (DataType::Unsigned256, 32));
        let t = lookup(0, 41).unwrap();
        assert_eq!(
            (t.semantics, t.units),
            (Semantics::TotalCounter, Units::Messages)
        );
        assert_eq!(lookup(0, 341).unwrap().length, VARLEN);
        assert_eq!(lookup(0, 160).unwrap().units, Units::Milliseconds);
    }

    #[test]
    fn with_pen_keeps_everything_else() {
        let e = enterprise::MPTCP_SENDER_TOKEN.with_pen(32473);
        assert_eq!(e.pen, 32473);
        assert_eq!(e.with_pen(0), enterprise::MPTCP_SENDER_TOKEN);
        assert_eq!(lookup(99, 1103), Some(&enterprise::MPTCP_SENDER_TOKEN));
    }
}
