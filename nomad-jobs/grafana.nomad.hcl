# Grafana: dashboards over Prometheus, Loki and Tempo, reachable only over the private network
# (WireGuard/bastion, see runbooks/onboarding.md). Data sources are provisioned from the catalogue.
#
# Secrets: nomad/jobs/gewebe-grafana
#   ADMIN_PASSWORD, SECRET_KEY

variable "image" {
  type        = string
  description = "grafana/grafana, pinned by digest."
  validation {
    condition     = can(regex("^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest: name@sha256:<64 hex>."
  }
}

variable "grafana_host" {
  type    = string
  default = "grafana.internal"
}

variable "datacenters" {
  type    = list(string)
  default = ["fsn1"]
}

job "gewebe-grafana" {
  datacenters = var.datacenters
  type        = "service"

  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "20s"
    healthy_deadline  = "5m"
    progress_deadline = "15m"
    auto_revert       = true
  }

  group "grafana" {
    count = 1

    constraint {
      attribute = "${meta.gewebe_role}"
      value     = "ops"
    }

    volume "data" {
      type   = "host"
      source = "grafana-data"
    }

    network {
      port "http" {
        to = 3000
      }
    }

    restart {
      attempts = 3
      interval = "10m"
      delay    = "20s"
      mode     = "delay"
    }

    # Pinned to its volume on the ops node.
    reschedule {
      attempts  = 0
      unlimited = false
    }

    service {
      name     = "gewebe-grafana"
      provider = "nomad"
      port     = "http"
      tags     = ["ops"]

      check {
        name     = "ready"
        type     = "http"
        path     = "/api/health"
        interval = "15s"
        timeout  = "3s"
      }
    }

    task "grafana" {
      driver = "docker"

      kill_timeout = "30s"

      volume_mount {
        volume      = "data"
        destination = "/var/lib/grafana"
      }

      config {
        image = var.image
        ports = ["http"]
      }

      env {
        GF_SERVER_ROOT_URL        = "https://${var.grafana_host}/"
        GF_AUTH_ANONYMOUS_ENABLED = "false"
        GF_USERS_ALLOW_SIGN_UP    = "false"
        GF_PATHS_PROVISIONING     = "/local/provisioning"
      }

      template {
        destination = "secrets/grafana.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/gewebe-grafana" }}GF_SECURITY_ADMIN_PASSWORD={{ .ADMIN_PASSWORD }}
          GF_SECURITY_SECRET_KEY={{ .SECRET_KEY }}{{ end }}
        EOT
      }

      template {
        destination = "local/provisioning/datasources/gewebe.yml"
        change_mode = "restart"
        data        = <<-EOT
          apiVersion: 1
          datasources:
          {{- range $i, $s := nomadService "gewebe-prometheus" }}{{ if eq $i 0 }}
            - name: Prometheus
              type: prometheus
              uid: prometheus
              url: http://{{ $s.Address }}:{{ $s.Port }}
              isDefault: true
          {{- end }}{{ end }}
          {{- range $i, $s := nomadService "gewebe-loki" }}{{ if eq $i 0 }}
            - name: Loki
              type: loki
              uid: loki
              url: http://{{ $s.Address }}:{{ $s.Port }}
          {{- end }}{{ end }}
          {{- range $i, $s := nomadService "gewebe-tempo" }}{{ if eq $i 0 }}
            - name: Tempo
              type: tempo
              uid: tempo
              url: http://{{ $s.Address }}:{{ $s.Port }}
          {{- end }}{{ end }}
        EOT
      }

      # Dashboards from infra/grafana/dashboards (their legends use {{label}}, hence the delimiters);
      # Grafana rescans the folder, so a new file needs no restart.
      template {
        destination = "local/provisioning/dashboards/gewebe.yml"
        change_mode = "noop"
        data        = <<-EOT
          apiVersion: 1
          providers:
            - name: gewebe
              folder: gewebe
              type: file
              updateIntervalSeconds: 60
              options:
                path: /local/dashboards
        EOT
      }

      template {
        destination     = "local/dashboards/gewebe-services.json"
        data            = file("infra/grafana/dashboards/gewebe-services.json")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      template {
        destination     = "local/dashboards/gewebe-events.json"
        data            = file("infra/grafana/dashboards/gewebe-events.json")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      template {
        destination     = "local/dashboards/gewebe-postgres.json"
        data            = file("infra/grafana/dashboards/gewebe-postgres.json")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      template {
        destination     = "local/dashboards/gewebe-nats.json"
        data            = file("infra/grafana/dashboards/gewebe-nats.json")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      template {
        destination     = "local/dashboards/gewebe-nodes.json"
        data            = file("infra/grafana/dashboards/gewebe-nodes.json")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      template {
        destination     = "local/dashboards/gewebe-edge.json"
        data            = file("infra/grafana/dashboards/gewebe-edge.json")
        left_delimiter  = "[[["
        right_delimiter = "]]]"
        change_mode     = "noop"
      }

      resources {
        cpu        = 500
        memory     = 512
        memory_max = 1024
      }
    }

  }
}
