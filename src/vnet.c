/* SPDX-License-Identifier: MIT */
/* The legacy virtio_net_hdr: 10 bytes, fields in host byte order. */
#include "internal.h"

void tb_vnet_encode(const struct tb_vnet_hdr *h, uint8_t out[TB_VNET_HDR_LEN])
{
	out[0] = h->flags;
	out[1] = h->gso_type;
	memcpy(out + 2, &h->hdr_len, 2);
	memcpy(out + 4, &h->gso_size, 2);
	memcpy(out + 6, &h->csum_start, 2);
	memcpy(out + 8, &h->csum_offset, 2);
}

void tb_vnet_decode(const uint8_t in[TB_VNET_HDR_LEN], struct tb_vnet_hdr *h)
{
	h->flags = in[0];
	h->gso_type = in[1];
	memcpy(&h->hdr_len, in + 2, 2);
	memcpy(&h->gso_size, in + 4, 2);
	memcpy(&h->csum_start, in + 6, 2);
	memcpy(&h->csum_offset, in + 8, 2);
}

const char *tb_version(void)
{
	return TB_VERSION_STRING;
}
