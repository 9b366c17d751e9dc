variable "hcloud_token" {
  type        = string
  sensitive   = true
  description = "API token of the Hetzner Cloud project (read+write)."
  validation {
    condition     = length(var.hcloud_token) == 64
    error_message = "A Hetzner Cloud API token has 64 characters."
  }
}

variable "name" {
  type        = string
  default     = "gewebe"
  description = "Prefix of every resource name and label."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: lower-case letters, digits and dashes, 2 to 21 characters."
  }
}

variable "location" {
  type        = string
  default     = "fsn1"
  description = "Hetzner location of every server (one location: the private network and volumes are local to it)."
  validation {
    condition     = contains(["fsn1", "nbg1", "hel1"], var.location)
    error_message = "location must be one of fsn1, nbg1, hel1 (network zone eu-central)."
  }
}

variable "private_cidr" {
  type        = string
  default     = "10.0.0.0/16"
  description = "The private network; the jobs' TRUSTED_PROXIES and pg_hba ranges lie in it."
  validation {
    condition     = can(cidrhost(var.private_cidr, 0)) && tonumber(split("/", var.private_cidr)[1]) <= 20
    error_message = "private_cidr must be a CIDR range of at least /20."
  }
}

variable "ssh_keys" {
  type        = list(string)
  description = "Names of the Hetzner SSH keys allowed on every server."
  validation {
    condition     = length(var.ssh_keys) > 0
    error_message = "At least one SSH key; password logins are disabled."
  }
}

variable "admin_cidrs" {
  type        = list(string)
  default     = []
  description = "Public ranges allowed to SSH to the Nomad servers (the bastion path). Empty: no public SSH at all."
  validation {
    condition     = alltrue([for c in var.admin_cidrs : can(cidrhost(c, 0)) && !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "admin_cidrs must be CIDR ranges, never the whole internet."
  }
}

variable "nomad_version" {
  type        = string
  default     = "1.9.7"
  description = "Nomad release installed by cloud-init (>= 1.7 for change_script and native service checks)."
  validation {
    condition     = can(regex("^1\\.(7|8|9|[1-9][0-9])\\.[0-9]+$", var.nomad_version))
    error_message = "nomad_version must be 1.7 or newer, e.g. 1.9.7."
  }
}

variable "server_type_nomad" {
  type        = string
  default     = "cx22"
  description = "Nomad servers (scheduling only: small)."
}

variable "app_nodes" {
  type        = number
  default     = 3
  description = "Clients for the stateless services (auth, geo, feed, chat, search, relay, PgBouncer)."
  validation {
    condition     = var.app_nodes >= 2 && var.app_nodes <= 10
    error_message = "app_nodes between 2 (every service runs at least two instances on distinct nodes) and 10 (a Hetzner spread placement group holds 10 servers)."
  }
}

variable "edge_nodes" {
  type        = number
  default     = 2
  description = "Caddy nodes behind the load balancer."
  validation {
    condition     = var.edge_nodes >= 2 && var.edge_nodes <= 10
    error_message = "edge_nodes between 2 and 10."
  }
}

variable "server_types" {
  type        = map(string)
  description = "Server type per client role."
  default = {
    edge   = "cx22"
    app    = "cpx31"
    db     = "ccx23"
    nats   = "cpx21"
    cache  = "cx22"
    search = "cpx31"
    ops    = "cpx31"
  }
  validation {
    condition     = alltrue([for r in ["edge", "app", "db", "nats", "cache", "search", "ops"] : contains(keys(var.server_types), r)])
    error_message = "server_types needs an entry for edge, app, db, nats, cache, search and ops."
  }
}

variable "volume_gb" {
  type        = map(number)
  description = "Volume size per stateful role in GB."
  default = {
    db     = 200
    nats   = 200
    cache  = 10
    search = 50
    ops    = 300
    edge   = 10
  }
  validation {
    condition     = lookup(var.volume_gb, "nats", 0) >= 160
    error_message = "NATS needs at least 160 GB: the stream budget is 100 GiB plus the DLQ and headroom (max_file_store 150GB)."
  }
}
