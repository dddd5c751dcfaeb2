//! The pre-filter language and its compilation into the XDP program's rule table.
//!
//! A rule is `[include|exclude] SRC DST SPORT DPORT PROTO`; the action defaults to include.
//! Each field is `-` (any), one value or a list `[a,b,...]`: addresses are IPv4/IPv6 with
//! an optional CIDR prefix, ports a number or a range `lo-hi`, protocols a name (tcp, udp,
//! icmp, icmpv6, sctp, …) or a number. The first matching rule decides; a packet no rule
//! matches is excluded when any include rule exists (an allow list) and included otherwise
//! (a deny list). Address and port lists expand into several table rules in the program
//! (at most [`MAX_RULES`]); protocol lists are a bit set in one rule.

use std::fmt;
use std::net::IpAddr;

/// Rules the XDP program holds (keep in step with MAX_RULES in redirect.bpf.c).
pub const MAX_RULES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Include,
    Exclude,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    fn family(&self) -> u8 {
        if self.addr.is_ipv4() { 4 } else { 6 }
    }

    /// Network address and mask as the program compares them: 16 bytes in network order,
    /// IPv4 in the first four.
    fn net_and_mask(&self) -> ([u8; 16], [u8; 16]) {
        let (bytes, len) = match self.addr {
            IpAddr::V4(a) => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a.octets());
                (b, 4)
            }
            IpAddr::V6(a) => (a.octets(), 16),
        };
        let mut mask = [0u8; 16];
        for (i, m) in mask.iter_mut().enumerate().take(len) {
            let bits = (usize::from(self.prefix)).saturating_sub(i * 8).min(8);
            *m = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
        }
        let mut net = bytes;
        for (n, m) in net.iter_mut().zip(mask) {
            *n &= m;
        }
        (net, mask)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

/// One rule as written (lists not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    /// Empty = any.
    pub src: Vec<Cidr>,
    pub dst: Vec<Cidr>,
    pub sport: Vec<PortRange>,
    pub dport: Vec<PortRange>,
    pub protos: Vec<u8>,
}

/// A filter rule that does not parse: what is wrong, for a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn err<T>(msg: String) -> Result<T, FilterError> {
    Err(FilterError(msg))
}

const PROTOCOLS: [(&str, u8); 12] = [
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("dccp", 33),
    ("sctp", 132),
    ("udplite", 136),
];

/// Split a field into its items: `-`/`any` → none, `[a,b]` → a and b, `x` → x.
fn items(field: &str) -> Result<Vec<&str>, FilterError> {
    if field == "-" || field.eq_ignore_ascii_case("any") {
        return Ok(Vec::new());
    }
    let inner = match (field.strip_prefix('['), field.ends_with(']')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => return Ok(vec![field]),
        _ => return err(format!("unbalanced brackets in '{field}'")),
    };
    let list: Vec<&str> = inner.split(',').map(str::trim).collect();
    if list.iter().any(|s| s.is_empty()) {
        return err(format!("empty item in list '{field}'"));
    }
    Ok(list)
}

fn parse_cidr(s: &str) -> Result<Cidr, FilterError> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| FilterError(format!("'{s}' is not an IPv4/IPv6 address or prefix")))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return err(format!("'{s}': prefix length must be 0..={max}")),
        },
    };
    Ok(Cidr { addr, prefix })
}

fn parse_port(s: &str) -> Result<PortRange, FilterError> {
    let num = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| FilterError(format!("'{s}' is not a port (0-65535) or range lo-hi")))
    };
    match s.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (num(lo)?, num(hi)?);
            if lo > hi {
                return err(format!(
                    "port range '{s}' is empty (low end above high end)"
                ));
            }
            Ok(PortRange { lo, hi })
        }
        None => {
            let p = num(s)?;
            Ok(PortRange { lo: p, hi: p })
        }
    }
}

fn parse_proto(s: &str) -> Result<u8, FilterError> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(n);
    }
    PROTOCOLS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, n)| n)
        .ok_or_else(|| {
            FilterError(format!(
                "unknown protocol '{s}' (use a number 0-255 or one of tcp, udp, icmp, icmpv6, sctp, dccp, udplite, gre, esp, ah, igmp)"
            ))
        })
}

impl std::str::FromStr for Rule {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Rule, FilterError> {
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let action = match words.first().map(|w| w.to_ascii_lowercase()) {
            Some(w) if w == "include" => Some(Action::Include),
            Some(w) if w == "exclude" => Some(Action::Exclude),
            _ => None,
        };
        if action.is_some() {
            words.remove(0);
        }
        let [src, dst, sport, dport, proto] = words[..] else {
            return err(format!(
                "'{text}': expected [include|exclude] SRC DST SPORT DPORT PROTO (use - for any), got {} fields",
                words.len()
            ));
        };
        let ctx = |e: FilterError| FilterError(format!("'{text}': {e}"));
        let rule = Rule {
            action: action.unwrap_or(Action::Include),
            src: items(src)
                .and_then(|v| v.into_iter().map(parse_cidr).collect())
                .map_err(ctx)?,
            dst: items(dst)
                .and_then(|v| v.into_iter().map(parse_cidr).collect())
                .map_err(ctx)?,
            sport: items(sport)
                .and_then(|v| v.into_iter().map(parse_port).collect())
                .map_err(ctx)?,
            dport: items(dport)
                .and_then(|v| v.into_iter().map(parse_port).collect())
                .map_err(ctx)?,
            protos: items(proto)
                .and_then(|v| v.into_iter().map(parse_proto).collect())
                .map_err(ctx)?,
        };
        if rule.expand().is_empty() {
            return err(format!(
                "'{text}': can never match (source and destination of different address families)"
            ));
        }
        Ok(rule)
    }
}

/// One row of the program's rule table (the `struct rule` of redirect.bpf.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRule {
    pub src: Option<Cidr>,
    pub dst: Option<Cidr>,
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    /// Bit set of protocol numbers; `None` = any.
    pub protos: Option<[u64; 4]>,
    pub action: Action,
}

/// Size of `struct rule` in redirect.bpf.c.
pub const RULE_SIZE: usize = 112;

impl TableRule {
    fn family(&self) -> u8 {
        self.src.or(self.dst).map_or(0, |c| c.family())
    }

    /// The bytes of `struct rule`.
    pub fn to_bytes(&self) -> [u8; RULE_SIZE] {
        let mut b = [0u8; RULE_SIZE];
        let any = ([0u8; 16], [0u8; 16]);
        let (src, src_mask) = self.src.map_or(any, |c| c.net_and_mask());
        let (dst, dst_mask) = self.dst.map_or(any, |c| c.net_and_mask());
        b[0..16].copy_from_slice(&src);
        b[16..32].copy_from_slice(&src_mask);
        b[32..48].copy_from_slice(&dst);
        b[48..64].copy_from_slice(&dst_mask);
        for (i, w) in self.protos.unwrap_or_default().iter().enumerate() {
            b[64 + i * 8..72 + i * 8].copy_from_slice(&w.to_ne_bytes());
        }
        let full = PortRange {
            lo: 0,
            hi: u16::MAX,
        };
        let (sp, dp) = (self.sport.unwrap_or(full), self.dport.unwrap_or(full));
        for (i, v) in [sp.lo, sp.hi, dp.lo, dp.hi].iter().enumerate() {
            b[96 + i * 2..98 + i * 2].copy_from_slice(&v.to_ne_bytes());
        }
        b[104] = self.family();
        b[105] = u8::from(self.protos.is_none());
        b[106] = u8::from(self.sport.is_none() && self.dport.is_none());
        b[107] = match self.action {
            Action::Include => 0,
            Action::Exclude => 1,
        };
        b
    }
}

fn or_any<T: Copy>(v: &[T]) -> Vec<Option<T>> {
    if v.is_empty() {
        vec![None]
    } else {
        v.iter().copied().map(Some).collect()
    }
}

impl Rule {
    /// The table rules this rule expands to (address/port lists multiply; source and
    /// destination of different families can never match and are left out).
    pub fn expand(&self) -> Vec<TableRule> {
        let protos = (!self.protos.is_empty()).then(|| {
            let mut set = [0u64; 4];
            for &p in &self.protos {
                set[usize::from(p >> 6)] |= 1u64 << (p & 63);
            }
            set
        });
        let mut out = Vec::new();
        for src in or_any(&self.src) {
            for dst in or_any(&self.dst) {
                if let (Some(s), Some(d)) = (src, dst)
                    && s.family() != d.family()
                {
                    continue;
                }
                for sport in or_any(&self.sport) {
                    for dport in or_any(&self.dport) {
                        out.push(TableRule {
                            src,
                            dst,
                            sport,
                            dport,
                            protos,
                            action: self.action,
                        });
                    }
                }
            }
        }
        out
    }
}

/// A whole pre-filter, ready for the program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub table: Vec<TableRule>,
    /// What happens to a packet no rule matches.
    pub default_action: Option<Action>,
}

impl Filter {
    /// Compile rules in order; an empty list is "everything".
    pub fn compile(rules: &[Rule]) -> Result<Filter, FilterError> {
        let table: Vec<TableRule> = rules.iter().flat_map(Rule::expand).collect();
        if table.len() > MAX_RULES {
            return err(format!(
                "the filter rules expand to {} table rules; the XDP program holds at most {MAX_RULES} (use CIDR prefixes and port ranges instead of long lists)",
                table.len()
            ));
        }
        let default_action = (!table.is_empty()).then(|| {
            if rules.iter().any(|r| r.action == Action::Include) {
                Action::Exclude
            } else {
                Action::Include
            }
        });
        Ok(Filter {
            table,
            default_action,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Rule {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_documented_example() {
        let r = rule("10.0.0.0/8 - - 53 [tcp,udp]");
        assert_eq!(r.action, Action::Include);
        assert_eq!(r.src.len(), 1);
        assert_eq!(r.src[0].prefix, 8);
        assert!(r.dst.is_empty() && r.sport.is_empty());
        assert_eq!(r.dport, vec![PortRange { lo: 53, hi: 53 }]);
        assert_eq!(r.protos, vec![6, 17]);
        let t = r.expand();
        assert_eq!(t.len(), 1);
        let set = t[0].protos.unwrap();
        assert_eq!(set[0], (1 << 6) | (1 << 17));
    }

    #[test]
    fn lists_expand_and_families_never_mix() {
        let r = rule("exclude [10.0.0.0/8,2001:db8::/32] [192.168.0.0/16,fd00::/8] - [53,80-90] -");
        // (v4,v4) and (v6,v6) survive, times two port items.
        assert_eq!(r.expand().len(), 4);
        assert!(
            "10.0.0.1 2001:db8::1 - - -"
                .parse::<Rule>()
                .unwrap_err()
                .0
                .contains("never match")
        );
    }

    #[test]
    fn masks_are_network_order_and_host_bits_cleared() {
        let (net, mask) = parse_cidr("10.1.2.3/12").unwrap().net_and_mask();
        assert_eq!(&net[..4], &[10, 0, 0, 0]);
        assert_eq!(&mask[..4], &[255, 240, 0, 0]);
        assert_eq!(&mask[4..], &[0u8; 12]);
        let (net6, mask6) = parse_cidr("2001:db8:ffff::1/36").unwrap().net_and_mask();
        assert_eq!(&net6[..6], &[0x20, 0x01, 0x0d, 0xb8, 0xf0, 0]);
        assert_eq!(&mask6[..6], &[255, 255, 255, 255, 0xf0, 0]);
        let (_, m0) = parse_cidr("0.0.0.0/0").unwrap().net_and_mask();
        assert_eq!(m0, [0u8; 16]);
    }

    #[test]
    fn default_action_follows_the_kind_of_list() {
        let deny = Filter::compile(&[rule("exclude - - - 22 tcp")]).unwrap();
        assert_eq!(deny.default_action, Some(Action::Include));
        let allow = Filter::compile(&[
            rule("exclude 10.9.0.0/16 - - - -"),
            rule("10.0.0.0/8 - - - -"),
        ])
        .unwrap();
        assert_eq!(allow.default_action, Some(Action::Exclude));
        assert!(Filter::compile(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (text, needle) in [
            ("10.0.0.0/8 - - 53", "got 4 fields"),
            ("10.0.0.0/33 - - - -", "prefix length must be 0..=32"),
            ("10.0.0.300 - - - -", "not an IPv4/IPv6 address"),
            ("- - - 70000 -", "not a port"),
            ("- - - 90-80 -", "is empty"),
            ("- - - - [tcp,quic]", "unknown protocol 'quic'"),
            ("- - - - [tcp,", "unbalanced brackets"),
            ("- - - - [tcp,,udp]", "empty item"),
        ] {
            let e = text.parse::<Rule>().unwrap_err().0;
            assert!(e.contains(needle), "{text}: {e}");
        }
        let many: Vec<Rule> = (0..65).map(|p| rule(&format!("- - - {p} -"))).collect();
        assert!(Filter::compile(&many).unwrap_err().0.contains("at most 64"));
    }

    #[test]
    fn table_rule_bytes_follow_the_c_layout() {
        let t = rule("exclude 10.0.0.0/8 - 1000-2000 - [tcp]").expand()[0];
        let b = t.to_bytes();
        assert_eq!(&b[0..4], &[10, 0, 0, 0]);
        assert_eq!(&b[16..20], &[255, 0, 0, 0]);
        assert_eq!(&b[32..64], &[0u8; 32]);
        assert_eq!(u64::from_ne_bytes(b[64..72].try_into().unwrap()), 1 << 6);
        assert_eq!(u16::from_ne_bytes([b[96], b[97]]), 1000);
        assert_eq!(u16::from_ne_bytes([b[98], b[99]]), 2000);
        assert_eq!(u16::from_ne_bytes([b[100], b[101]]), 0);
        assert_eq!(u16::from_ne_bytes([b[102], b[103]]), u16::MAX);
        assert_eq!(&b[104..108], &[4, 0, 0, 1]);
    }
}
