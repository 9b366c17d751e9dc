# The load balancer in front of the edge nodes, TCP with the PROXY protocol (Caddy's
# listener_wrappers read the client address from it). Hetzner load balancers carry no UDP, so HTTP/3
# reaches the edge nodes directly on their public addresses (output edge_public_ipv4): publish
# those as well if clients should use QUIC (see runbooks/deploy-first.md).

resource "hcloud_load_balancer" "edge" {
  name               = "${var.name}-edge"
  load_balancer_type = "lb11"
  location           = var.location
  labels             = local.labels
}

resource "hcloud_load_balancer_network" "edge" {
  load_balancer_id = hcloud_load_balancer.edge.id
  network_id       = hcloud_network.private.id
}

resource "hcloud_load_balancer_target" "edge" {
  type             = "label_selector"
  load_balancer_id = hcloud_load_balancer.edge.id
  label_selector   = "system=${var.name},role=edge"
  use_private_ip   = true

  depends_on = [hcloud_load_balancer_network.edge]
}

resource "hcloud_load_balancer_service" "tcp" {
  for_each         = toset(["80", "443"])
  load_balancer_id = hcloud_load_balancer.edge.id
  protocol         = "tcp"
  listen_port      = tonumber(each.key)
  destination_port = tonumber(each.key)
  # Only 443: Caddy's automatic HTTP→HTTPS redirect server on :80 is created at run time without
  # the global proxy_protocol listener wrapper and would answer 400 to a PROXY header.
  proxyprotocol = each.key == "443"

  health_check {
    protocol = "tcp"
    port     = tonumber(each.key)
    interval = 5
    timeout  = 3
    retries  = 2
  }
}
