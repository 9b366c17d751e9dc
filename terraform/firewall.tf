# Hetzner firewalls filter the public interfaces only; traffic in the private network (Nomad RPC and
# gossip, PostgreSQL, NATS, KeyDB, Typesense, the services) never leaves it. So: edge nodes accept
# HTTP, HTTPS and HTTP/3 from anywhere, Nomad servers accept SSH from admin_cidrs only, everything
# else accepts nothing from the internet.

resource "hcloud_firewall" "edge" {
  name   = "${var.name}-edge"
  labels = local.labels

  rule {
    description = "HTTP (ACME redirects to HTTPS)"
    direction   = "in"
    protocol    = "tcp"
    port        = "80"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "HTTPS"
    direction   = "in"
    protocol    = "tcp"
    port        = "443"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }

  rule {
    description = "HTTP/3 (QUIC)"
    direction   = "in"
    protocol    = "udp"
    port        = "443"
    source_ips  = ["0.0.0.0/0", "::/0"]
  }
}

resource "hcloud_firewall" "servers" {
  name   = "${var.name}-nomad-servers"
  labels = local.labels

  dynamic "rule" {
    for_each = length(var.admin_cidrs) > 0 ? [1] : []
    content {
      description = "SSH from the admin ranges (bastion)"
      direction   = "in"
      protocol    = "tcp"
      port        = "22"
      source_ips  = var.admin_cidrs
    }
  }
}

# No inbound rule: a firewall without rules drops every inbound public packet.
resource "hcloud_firewall" "private_only" {
  name   = "${var.name}-private-only"
  labels = local.labels
}
