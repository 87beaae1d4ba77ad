"""The result codes of LDAP (RFC 4511 section 4.1.9 and appendix A) and the errors of
this package, with their diagnostic messages (Vietnamese, then English) in one place."""

from __future__ import annotations

# RFC 4511 appendix A.
SUCCESS = 0
OPERATIONS_ERROR = 1
PROTOCOL_ERROR = 2
TIME_LIMIT_EXCEEDED = 3
SIZE_LIMIT_EXCEEDED = 4
COMPARE_FALSE = 5
COMPARE_TRUE = 6
AUTH_METHOD_NOT_SUPPORTED = 7
STRONGER_AUTH_REQUIRED = 8
ADMIN_LIMIT_EXCEEDED = 11
UNAVAILABLE_CRITICAL_EXTENSION = 12
CONFIDENTIALITY_REQUIRED = 13
SASL_BIND_IN_PROGRESS = 14
NO_SUCH_ATTRIBUTE = 16
UNDEFINED_ATTRIBUTE_TYPE = 17
INAPPROPRIATE_MATCHING = 18
CONSTRAINT_VIOLATION = 19
INVALID_ATTRIBUTE_SYNTAX = 21
NO_SUCH_OBJECT = 32
INVALID_DN_SYNTAX = 34
INAPPROPRIATE_AUTHENTICATION = 48
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING_TO_PERFORM = 53
OTHER = 80


class LDAPError(Exception):
    """An operation that ends with a result code other than success; ``message`` is the
    diagnosticMessage, ``matched`` the matchedDN (RFC 4511 section 4.1.9)."""

    def __init__(self, code: int, message: str, matched: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.matched = code, message, matched


class MalformedPDU(Exception):
    """A PDU that is not valid BER or not an LDAPMessage, or over a bound (size,
    nesting): answered with a Notice of Disconnection (RFC 4511 section 4.4.1)."""


class SessionClosed(Exception):
    """End the session (after its last answer is written)."""


# Diagnostic messages used in more than one place.
PROTOCOL_ERROR_TEXT = "Yêu cầu LDAP không hợp lệ / malformed LDAP request"
TOO_LARGE_TEXT = "Yêu cầu LDAP quá lớn / LDAP request too large"
TOO_DEEP_TEXT = "Bộ lọc lồng nhau quá sâu / filter nested too deeply"
SHUTTING_DOWN_TEXT = "Máy chủ đang dừng / server shutting down"
TOO_MANY_CONNECTIONS_TEXT = "Quá nhiều kết nối, hãy thử lại sau / too many connections, try again later"
IDLE_TEXT = "Hết thời gian chờ / idle timeout"
WRITES_REFUSED = ("Danh bạ chỉ đọc qua LDAP; thay đổi qua trang quản trị hoặc dòng lệnh / "
                  "the directory is read-only over LDAP: change it through the console or the CLI")
BIND_FIRST = ("Hãy đăng nhập (bind) trước / bind first: anonymous access is not allowed")
ANONYMOUS_OFF = ("Không cho phép đăng nhập ẩn danh / anonymous bind is disabled")
UNAUTHENTICATED_BIND = ("Thiếu mật khẩu / a name without a password (unauthenticated bind) is refused "
                        "(RFC 4513 section 5.1.2)")
TLS_REQUIRED = ("Phải dùng kết nối mã hóa (StartTLS hoặc LDAPS) để gửi mật khẩu / "
                "a password may only be sent over TLS (StartTLS or LDAPS)")
INVALID_CREDENTIALS_TEXT = "Sai tên đăng nhập hoặc mật khẩu / invalid name or password"
UNAVAILABLE_TEXT = "Hệ thống tạm thời không sẵn sàng, hãy thử lại sau / temporarily unavailable, try again later"
SASL_MECHANISMS_TEXT = ("Chỉ hỗ trợ simple bind, SASL PLAIN qua TLS và SASL EXTERNAL với chứng chỉ máy khách / "
                        "only simple bind, SASL PLAIN over TLS and SASL EXTERNAL with a client certificate are "
                        "offered")
SASL_EXTERNAL_NO_CERTIFICATE = ("Chưa có chứng chỉ máy khách / this connection offers simple bind and SASL PLAIN: "
                                "SASL EXTERNAL needs a TLS connection on which the client sent a certificate "
                                "(ldap.client_ca)")
SASL_EXTERNAL_UNMAPPED = ("Chứng chỉ không ứng với tài khoản dịch vụ nào / the client certificate maps to no "
                          "service account (ldap.certificate_map)")
SASL_PLAIN_MALFORMED = ("Dữ liệu SASL PLAIN không hợp lệ / malformed SASL PLAIN credentials: "
                        "[authzid] NUL authcid NUL password (RFC 4616 section 2)")
SASL_AUTHZID = ("Không được đăng nhập thay người khác / the authorization identity must be empty or "
                "the same as the authentication identity")
