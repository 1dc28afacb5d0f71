from django.dispatch import Signal

# Sent inside the approving transaction once a request reaches "approved"; kwargs: request, actor.
# Apps below (deployments) connect in their AppConfig.ready() to start a rollout.
request_approved = Signal()

# Sent after the commit that ended a request in any way (approved, rejected, cancelled, expired); kwargs: request,
# state. Apps below (hooks: GitHub deployment gates) connect to answer whoever waits on the request.
request_closed = Signal()
