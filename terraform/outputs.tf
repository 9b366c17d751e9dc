output "nomad_addr" {
  description = "NOMAD_ADDR for the CLI over the private network (WireGuard/bastion); HTTP until Nomad's mTLS is set up."
  value       = "http://${local.server_ips[0]}:4646"
}

output "nomad_server_private_ips" {
  value = local.server_ips
}

output "load_balancer_ipv4" {
  description = "Point the origin's A record here."
  value       = hcloud_load_balancer.edge.ipv4
}

output "load_balancer_ipv6" {
  description = "Point the origin's AAAA record here."
  value       = hcloud_load_balancer.edge.ipv6
}

output "edge_public_ipv4" {
  description = "The edge nodes' own addresses (HTTP/3 over UDP does not pass the load balancer)."
  value       = [for k, s in hcloud_server.client : s.ipv4_address if local.clients[k].role == "edge"]
}

output "nats_private_ips" {
  description = "-var peers=... of nomad-jobs/nats.nomad.hcl"
  value       = [for k, c in local.clients : c.ip if c.role == "nats"]
}

output "keydb_private_ips" {
  description = "-var peers=... of nomad-jobs/keydb.nomad.hcl"
  value       = [for k, c in local.clients : c.ip if c.role == "cache"]
}

output "typesense_private_ips" {
  description = "-var peers=... of nomad-jobs/typesense.nomad.hcl"
  value       = [for k, c in local.clients : c.ip if c.role == "search"]
}

output "private_cidr" {
  description = "edge_cidr / lb_cidr / private_cidr of the jobs."
  value       = var.private_cidr
}

output "gossip_key" {
  description = "Nomad's gossip encryption key (also on the servers); keep it in the vault."
  value       = random_id.gossip.b64_std
  sensitive   = true
}
