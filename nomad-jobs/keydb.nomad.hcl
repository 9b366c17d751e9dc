# KeyDB (Redis protocol): auth's brute-force counters and feed's tickets. Two nodes in
# active-replica mode, each a replica of the other and writable, so losing one node loses no
# counters written before the last replication round trip. Nothing here is a source of truth:
# after a total loss, throttles start from zero and open tickets must be fetched again.
#
# Secrets: nomad/jobs/gewebe-keydb
#   REDIS_PASSWORD   requirepass and masterauth (the services' Variables hold the same value)

variable "image" {
  type        = string
  description = "eqalpha/keydb image, pinned by digest."
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
  description = "Private addresses of the two cache hosts."
  validation {
    condition     = length(var.peers) == 2
    error_message = "KeyDB runs as an active-replica pair."
  }
}

job "gewebe-keydb" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "20s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
    auto_revert       = true
  }

  group "keydb" {
    count = 2

    # Between deregistering the group's services (Caddy's upstream template drops the instance)
    # and SIGTERM: no new requests arrive while the task drains.
    shutdown_delay = "5s"

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "cache"
    }

    constraint {
      distinct_hosts = true
    }

    volume "data" {
      type   = "host"
      source = "keydb-data"
    }

    network {
      port "redis" {
        static = 6379
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    service {
      name     = "gewebe-keydb"
      provider = "nomad"
      port     = "redis"

      check {
        name     = "tcp"
        type     = "tcp"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "keydb" {
      driver = "docker"

      kill_timeout   = "30s"

      volume_mount {
        volume      = "data"
        destination = "/data"
      }

      config {
        image        = var.image
        network_mode = "host"
        args         = ["keydb-server", "/secrets/keydb.conf"]
      }

      template {
        destination = "secrets/keydb.conf"
        perms       = "0600"
        change_mode = "restart"
        # The two replicas restart one after the other on a password change, not together.
        splay       = "60s"
        data        = <<-EOT
          bind {{ env "NOMAD_IP_redis" }} 127.0.0.1
          port 6379
          protected-mode yes
          dir /data
          appendonly yes
          appendfsync everysec
          # Counters and tickets have TTLs; under memory pressure evict what expires soonest.
          maxmemory 768mb
          maxmemory-policy volatile-ttl
          active-replica yes
          {{ with nomadVar "nomad/jobs/gewebe-keydb" -}}
          requirepass "{{ .REDIS_PASSWORD }}"
          masterauth "{{ .REDIS_PASSWORD }}"
          {{- end }}
          %{ for ip in var.peers ~}
          {{ if ne (env "NOMAD_IP_redis") "${ip}" }}replicaof ${ip} 6379{{ end }}
          %{ endfor ~}
        EOT
      }

      resources {
        cpu        = 500
        memory     = 1024
        memory_max = 1280
      }
    }
  }
}
