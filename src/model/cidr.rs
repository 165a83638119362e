//! IPv4 CIDR arithmetic for carving subnets out of a VPC range. Pure, no I/O.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network: address and prefix length, host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    addr: u32,
    prefix: u8,
}

impl Ipv4Net {
    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The `index`-th subnet with `new_prefix`, or `None` when it does not fit.
    pub fn subnet(&self, new_prefix: u8, index: u32) -> Option<Ipv4Net> {
        if new_prefix < self.prefix || new_prefix > 32 {
            return None;
        }
        let count = 1u64 << (new_prefix - self.prefix);
        if u64::from(index) >= count {
            return None;
        }
        let size = 1u64 << (32 - new_prefix);
        let addr = u64::from(self.addr) + u64::from(index) * size;
        Some(Ipv4Net {
            addr: addr as u32,
            prefix: new_prefix,
        })
    }

    /// Whether `other` lies inside this network.
    pub fn contains(&self, other: &Ipv4Net) -> bool {
        other.prefix >= self.prefix && mask(self.prefix) & other.addr == self.addr
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not in CIDR notation (a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{prefix}` is not a prefix length 0..32"))?;
        let addr = u32::from(ip);
        if addr & !mask(prefix) != 0 {
            return Err(format!(
                "`{s}` has host bits set; the network is {}/{prefix}",
                Ipv4Addr::from(addr & mask(prefix))
            ));
        }
        Ok(Ipv4Net { addr, prefix })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let n: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/16");
        assert!("10.0.0.1/16".parse::<Ipv4Net>().unwrap_err().contains("host bits"));
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("10.0.0/16".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn carves_subnets() {
        let n: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        let cases = [
            (20, 0, "10.0.0.0/20"),
            (20, 1, "10.0.16.0/20"),
            (20, 15, "10.0.240.0/20"),
            (24, 3, "10.0.3.0/24"),
        ];
        for (prefix, index, want) in cases {
            assert_eq!(n.subnet(prefix, index).unwrap().to_string(), want);
        }
        assert_eq!(n.subnet(20, 16), None);
        assert_eq!(n.subnet(8, 0), None);
        assert!(n.contains(&"10.0.16.0/20".parse().unwrap()));
        assert!(!n.contains(&"10.1.0.0/20".parse().unwrap()));
        assert!(!n.contains(&"10.0.0.0/8".parse().unwrap()));
    }
}
