"""The twisted gateway server bound to the configured interface (loopback) instead of 0.0.0.0."""

from __future__ import annotations

from localstack import config
from localstack.aws.serving.twisted import TLSMultiplexerFactory
from localstack.runtime.server.twisted import TwistedRuntimeServer
from rolo.gateway import Gateway
from rolo.serving.twisted import TwistedGateway
from twisted.internet import endpoints, reactor, ssl


class LoopbackTwistedRuntimeServer(TwistedRuntimeServer):
    def register(
        self,
        gateway: Gateway,
        listen: list[config.HostAndPort],
        ssl_creds: tuple[str, str] | None = None,
    ):
        site = TwistedGateway(gateway)
        if ssl_creds:
            cert_file_name, key_file_name = ssl_creds
            context_factory = ssl.DefaultOpenSSLContextFactory(key_file_name, cert_file_name)
            context_factory.getContext().use_certificate_chain_file(cert_file_name)
            protocol_factory = TLSMultiplexerFactory(context_factory, False, site)
        else:
            protocol_factory = site
        for host_and_port in listen:
            if config.is_ipv6_address(host_and_port.host):
                endpoint = endpoints.TCP6ServerEndpoint(reactor, host_and_port.port, interface=host_and_port.host)
            else:
                endpoint = endpoints.TCP4ServerEndpoint(reactor, host_and_port.port, interface=host_and_port.host)
            endpoint.listen(protocol_factory)
