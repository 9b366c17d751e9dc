# Typesense: three nodes with Raft replication for gewebe-search (the search service falls back to
# PostgreSQL while Typesense is down). The index is rebuilt from events and PostgreSQL, so losing
# all three loses nothing that matters (runbooks/scaling.md: reindex).
#
# Secrets: nomad/jobs/gewebe-typesense
#   API_KEY   the bootstrap admin key; gewebe-search gets a scoped key of its own

variable "image" {
  type        = string
  description = "typesense/typesense image, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

variable "peers" {
  type        = list(string)
  description = "Private addresses of the three search hosts."
  validation {
    condition     = length(var.peers) == 3
    error_message = "Typesense runs as a three-node Raft cluster."
  }
}

job "gewebe-typesense" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "30s"
    healthy_deadline  = "5m"
    progress_deadline = "15m"
    auto_revert       = true
    stagger           = "60s"
  }

  group "typesense" {
    count = 3

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "search"
    }

    constraint {
      distinct_hosts = true
    }

    volume "data" {
      type   = "host"
      source = "typesense-data"
    }

    network {
      port "peering" {
        static = 8107
      }
      port "api" {
        static = 8108
      }
    }

    restart {
      attempts = 3
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    service {
      name     = "gewebe-typesense"
      provider = "nomad"
      port     = "api"

      check {
        name     = "health"
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "3s"
      }
    }

    task "typesense" {
      driver = "docker"

      kill_timeout = "60s"

      volume_mount {
        volume      = "data"
        destination = "/data"
      }

      config {
        image        = var.image
        network_mode = "host"
        args = [
          "--data-dir", "/data",
          "--nodes", "/local/nodes",
          "--peering-address", "${NOMAD_IP_peering}",
          "--peering-port", "8107",
          "--api-address", "${NOMAD_IP_api}",
          "--api-port", "8108",
          "--enable-cors=false",
        ]
      }

      template {
        destination = "local/nodes"
        change_mode = "noop"
        data        = "${join(",", [for ip in var.peers : "${ip}:8107:8108"])}"
      }

      template {
        destination = "secrets/typesense.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-typesense" }}TYPESENSE_API_KEY={{ .API_KEY }}{{ end }}
        EOT
      }

      resources {
        cpu        = 2000
        memory     = 4096
        memory_max = 6144
      }
    }
  }
}
