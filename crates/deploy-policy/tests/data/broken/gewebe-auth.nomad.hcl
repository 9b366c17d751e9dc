# A job that breaks every service rule on purpose: the policy tests must report each one.

job "gewebe-auth" {
  datacenters = ["fsn1"]

  update {
    max_parallel      = 1
    auto_revert       = false
    health_check      = "task_states"
    healthy_deadline  = "10m"
    progress_deadline = "5m"
  }

  group "auth" {
    count = 1

    service {
      name     = "gewebe-auth"
      provider = "consul"
      port     = "http"

      check {
        type     = "http"
        path     = "/health/live"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "serve" {
      driver       = "docker"
      kill_timeout = "10s"

      config {
        image = "registry.example/gewebe-auth:latest"
        args  = ["serve"]
      }

      env {
        AUTH_KEK            = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
        DATABASE_DIRECT_URL = "postgres://gewebe_auth:hunter2@10.0.0.5:5432/gewebe"
      }

      template {
        destination = "local/app.env"
        env         = true
        data        = <<-EOT
          {{ if .X }}REDIS_URL={{ vault "secret/redis" }}
          {{ with nomadVar "nomad/jobs/gewebe-auth" }}JWT_ISSUER={{ .ISSUER }}{{ end }}
        EOT
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
