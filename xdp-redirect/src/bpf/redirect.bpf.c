// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// The meter's XDP program. Every frame of a receive queue goes to the AF_XDP socket the
// meter bound to that queue (XSKMAP keyed by rx_queue_index). An optional pre-filter,
// compiled by the loader into the `rules` map, drops unwanted traffic before it costs user
// space anything. Per-queue, per-CPU counters say where every frame went:
//   seen = redirected + passed + filtered + redirect_failed
// `unparsable` counts frames the filter could not read (not IP, truncated); they are not
// filtered but redirected, so the meter still accounts for them by its own drop reason.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 256
#define MAX_RULES 64
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 4

enum counter {
	C_SEEN,
	C_REDIRECTED,
	C_PASSED,
	C_FILTERED,
	C_UNPARSABLE,
	C_REDIRECT_FAILED,
	C_COUNT,
};

struct counters {
	__u64 v[C_COUNT];
};

// Must match `RuleRepr` in lib.rs byte for byte.
struct rule {
	__u32 src[4];
	__u32 src_mask[4];
	__u32 dst[4];
	__u32 dst_mask[4];
	__u64 protos[4]; // bit set of IP protocol numbers
	__u16 sport_lo, sport_hi, dport_lo, dport_hi;
	__u8 family;     // 0 any, 4, 6
	__u8 any_proto;  // 1: protos ignored
	__u8 any_ports;  // 1: port ranges ignored (also matches port-less packets)
	__u8 action;     // 0 include (redirect), 1 exclude (drop)
	__u32 pad;
};

// Must match `ConfigRepr` in lib.rs.
struct config {
	__u32 n_rules;
	__u32 default_action; // when no rule matches
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct pkt {
	__u32 src[4];
	__u32 dst[4];
	__u16 sport, dport;
	__u8 family;
	__u8 proto;
	__u8 has_ports;
};

static __always_inline int parse_ports(void *l4, void *end, __u8 proto, __u16 frag, struct pkt *p)
{
	// Only the first fragment carries ports; later ones match port-less.
	if (frag)
		return 0;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	    proto == IPPROTO_UDPLITE || proto == IPPROTO_DCCP) {
		__be16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return -1;
		p->sport = bpf_ntohs(ports[0]);
		p->dport = bpf_ntohs(ports[1]);
		p->has_ports = 1;
	}
	return 0;
}

// 0: parsed; -1: not IP or truncated.
static __always_inline int parse(struct xdp_md *ctx, struct pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__u16 proto = bpf_ntohs(eth->h_proto);
	void *cur = eth + 1;
#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		struct vlan_hdr *v = cur;
		if ((void *)(v + 1) > end)
			return -1;
		proto = bpf_ntohs(v->proto);
		cur = v + 1;
	}
	if (proto == ETH_P_IP) {
		struct iphdr *ip = cur;
		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return -1;
		p->family = 4;
		p->src[0] = ip->saddr;
		p->dst[0] = ip->daddr;
		p->proto = ip->protocol;
		__u16 frag = bpf_ntohs(ip->frag_off) & 0x1fff;
		return parse_ports(cur + ip->ihl * 4, end, p->proto, frag, p);
	}
	if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > end)
			return -1;
		p->family = 6;
		__builtin_memcpy(p->src, &ip6->saddr, 16);
		__builtin_memcpy(p->dst, &ip6->daddr, 16);
		__u8 next = ip6->nexthdr;
		void *l4 = ip6 + 1;
		__u16 frag = 0;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING &&
			    next != IPPROTO_DSTOPTS && next != IPPROTO_FRAGMENT)
				break;
			__u8 *ext = l4;
			if ((void *)(ext + 8) > end)
				return -1;
			if (next == IPPROTO_FRAGMENT) {
				frag = ((__u16)ext[2] << 8 | ext[3]) & 0xfff8;
				l4 = ext + 8;
			} else {
				l4 = ext + (ext[1] + 1) * 8;
			}
			next = ext[0];
		}
		p->proto = next;
		return parse_ports(l4, end, p->proto, frag, p);
	}
	return -1;
}

static __always_inline int addr_match(const __u32 *a, const __u32 *net, const __u32 *mask)
{
	return ((a[0] & mask[0]) == net[0]) & ((a[1] & mask[1]) == net[1]) &
	       ((a[2] & mask[2]) == net[2]) & ((a[3] & mask[3]) == net[3]);
}

static __always_inline int rule_match(const struct rule *r, const struct pkt *p)
{
	if (r->family && r->family != p->family)
		return 0;
	if (!addr_match(p->src, r->src, r->src_mask) || !addr_match(p->dst, r->dst, r->dst_mask))
		return 0;
	if (!r->any_proto && !(r->protos[(p->proto >> 6) & 3] & (1ULL << (p->proto & 63))))
		return 0;
	if (!r->any_ports) {
		if (!p->has_ports)
			return 0;
		if (p->sport < r->sport_lo || p->sport > r->sport_hi || p->dport < r->dport_lo ||
		    p->dport > r->dport_hi)
			return 0;
	}
	return 1;
}

SEC("xdp")
int meter_redirect(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	__u32 slot = q < MAX_QUEUES ? q : MAX_QUEUES - 1;
	struct counters *c = bpf_map_lookup_elem(&counters, &slot);
	if (!c)
		return XDP_PASS;
	c->v[C_SEEN]++;

	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (cfg && cfg->n_rules) {
		struct pkt p = {};
		if (parse(ctx, &p) < 0) {
			c->v[C_UNPARSABLE]++;
		} else {
			__u32 action = cfg->default_action;
			__u32 n = cfg->n_rules;
			for (__u32 i = 0; i < MAX_RULES; i++) {
				if (i >= n)
					break;
				struct rule *r = bpf_map_lookup_elem(&rules, &i);
				if (!r)
					break;
				if (rule_match(r, &p)) {
					action = r->action;
					break;
				}
			}
			if (action) {
				c->v[C_FILTERED]++;
				return XDP_DROP;
			}
		}
	}

	if (!bpf_map_lookup_elem(&xsks, &q)) {
		// No socket on this queue (the meter watches other queues): leave it to the stack.
		c->v[C_PASSED]++;
		return XDP_PASS;
	}
	int ret = bpf_redirect_map(&xsks, q, XDP_PASS);
	if (ret == XDP_REDIRECT)
		c->v[C_REDIRECTED]++;
	else
		c->v[C_REDIRECT_FAILED]++;
	return ret;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
