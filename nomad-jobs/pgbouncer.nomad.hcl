# PgBouncer in transaction mode in front of the PostgreSQL primary: every pooled query of the
# services goes through it. Production runs PgBouncer >= 1.22 with max_prepared_statements; the
# services also work with 1.18 without it (every pooled transaction starts with DEALLOCATE ALL, see
# crates/platform/src/db.rs and runbooks/pgbouncer.md). The settings that matter for that are the
# same as in the local stack's infra/pgbouncer/pgbouncer.ini (pool_mode, ignore_startup_parameters,
# an empty server_reset_query); the policy tests compare them.
#
# Secrets: nomad/jobs/gewebe-pgbouncer
#   USERLIST   the auth_file: one line per role, "name" "SCRAM-SHA-256$..." (the verifier from
#              pg_authid, never the clear password; runbooks/secrets.md shows how to build it)

variable "image" {
  type        = string
  description = "PgBouncer >= 1.22 image, pinned by digest (1.21 fails on the services' DEALLOCATE ALL with prepared statements tracked)."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

variable "instances" {
  type    = number
  default = 2
}

job "gewebe-pgbouncer" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    health_check      = "checks"
    min_healthy_time  = "15s"
    healthy_deadline  = "3m"
    progress_deadline = "10m"
  }

  group "pgbouncer" {
    count = var.instances

    # Between deregistering the group's services (Caddy's upstream template drops the instance)
    # and SIGTERM: no new requests arrive while the task drains.
    shutdown_delay = "5s"

    # The stateless tier; database, stream and edge nodes keep their resources to themselves.
    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "app"
    }

    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "pgbouncer" {
        to = 6432
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    reschedule {
      delay          = "15s"
      delay_function = "exponential"
      max_delay      = "5m"
      unlimited      = true
    }

    service {
      name     = "gewebe-pgbouncer"
      provider = "nomad"
      port     = "pgbouncer"

      check {
        name     = "tcp"
        type     = "tcp"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "pgbouncer" {
      driver = "docker"

      # SIGINT: "safe shutdown", waits for running transactions; the services retry on reconnect.
      kill_signal  = "SIGINT"
      kill_timeout = "30s"

      config {
        image = var.image
        ports = ["pgbouncer"]
        args  = ["/local/pgbouncer.ini"]
      }

      # A moved primary (failover) re-renders the target; SIGHUP reloads without dropping clients.
      template {
        destination   = "local/pgbouncer.ini"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          [databases]
          {{ range $i, $s := nomadService "gewebe-postgres-primary" }}{{ if eq $i 0 }}gewebe = host={{ $s.Address }} port={{ $s.Port }} dbname=gewebe{{ end }}{{ end }}

          [pgbouncer]
          listen_addr = 0.0.0.0
          listen_port = 6432
          unix_socket_dir =
          auth_type = scram-sha-256
          auth_file = /secrets/userlist.txt
          admin_users = pgbouncer_admin
          stats_users = pgbouncer_stats

          pool_mode = transaction
          ; Prepared statements survive transaction pooling (PgBouncer >= 1.22: it also handles DEALLOCATE ALL).
          max_prepared_statements = 200
          ; Per database/user pair; 3 services x 10 client connections x their instances share these.
          default_pool_size = 40
          reserve_pool_size = 10
          reserve_pool_timeout = 2
          max_client_conn = 5000
          ; Two instances × 120 stay below PostgreSQL's max_connections (300) with room for the
          ; direct sessions (LISTEN, migrate, the relay's leader, replication, the exporter).
          max_db_connections = 120
          server_idle_timeout = 600
          query_wait_timeout = 10
          ignore_startup_parameters = extra_float_digits
          server_reset_query =
          log_connections = 0
          log_disconnections = 0
          log_pooler_errors = 1
        EOT
      }

      template {
        destination   = "secrets/userlist.txt"
        perms         = "0600"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        data          = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-pgbouncer" }}{{ .USERLIST }}{{ end }}
        EOT
      }

      resources {
        cpu        = 500
        memory     = 128
        memory_max = 256
      }
    }
  }
}
