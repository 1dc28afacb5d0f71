from django.dispatch import Signal

# Sent inside the approving transaction once a request reaches "approved"; kwargs: request, actor.
# Apps below (deployments) connect in their AppConfig.ready() to start a rollout.
request_approved = Signal()
