# The cluster gewebe's Nomad jobs run on, on Hetzner Cloud: 3 Nomad servers and the clients per
# role (meta.gewebe_role, which the jobs' constraints select), one private network, firewalls that
# leave only 80/tcp, 443/tcp and 443/udp public, volumes for the stateful systems and a load
# balancer in front of the edge nodes. See runbooks/deploy-first.md.
#
#   terraform init && terraform plan -out plan && terraform apply plan

terraform {
  required_version = ">= 1.6"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.49"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "hcloud" {
  token = var.hcloud_token
}
