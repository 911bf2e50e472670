"""Coverage heads, industries and revenue bands of the pilot (docs/domain.md, "Coverage heads" and "Policy mechanics")."""

from __future__ import annotations

from enum import StrEnum


class CoverageHead(StrEnum):
    """Coverage heads in the order of docs/domain.md, "Coverage heads": property heads first, then liability.

    That order is the order in which the aggregate is consumed at loss determination.
    """

    DIRECT_PHYSICAL_LOSS = "direct_physical_loss"  # 直接物理损失
    BUSINESS_INTERRUPTION = "business_interruption"  # 营业中断损失
    DATA_ASSET_RESTORATION = "data_asset_restoration"  # 数据资产重置费用
    HARDWARE_BETTERMENT = "hardware_betterment"  # 硬件改善成本
    EMERGENCY_RESPONSE = "emergency_response"  # 应急处置费用
    PUBLIC_RELATIONS = "public_relations"  # 公关费用
    LEGAL_COSTS = "legal_costs"  # 法律费用
    RANSOMWARE_EXTORTION = "ransomware_extortion"  # 勒索损失
    FRAUD_SOCIAL_ENGINEERING = "fraud_social_engineering"  # 欺诈和社会工程学犯罪损失
    DATA_BREACH_LIABILITY = "data_breach_liability"  # 数据泄露责任
    NETWORK_SECURITY_LIABILITY = "network_security_liability"  # 网络安全事件责任
    MEDIA_INFRINGEMENT = "media_infringement"  # 媒体侵权责任
    OUTSOURCER_LIABILITY = "outsourcer_liability"  # 外包商相关责任
    TECHNOLOGY_EO = "technology_eo"  # 产品责任或技术服务职业责任

    @property
    def is_property(self) -> bool:
        return self not in LIABILITY_HEADS

    @property
    def order(self) -> int:
        return HEAD_ORDER[self]


LIABILITY_HEADS = frozenset(
    {
        CoverageHead.DATA_BREACH_LIABILITY,
        CoverageHead.NETWORK_SECURITY_LIABILITY,
        CoverageHead.MEDIA_INFRINGEMENT,
        CoverageHead.OUTSOURCER_LIABILITY,
        CoverageHead.TECHNOLOGY_EO,
    }
)
HEAD_ORDER = {head: index for index, head in enumerate(CoverageHead)}


class Industry(StrEnum):
    TELECOM_INTERNET = "telecom_internet"  # 基础电信、互联网、云服务
    INDUSTRIAL_INTERNET = "industrial_internet"  # 联网工业企业、工业互联网平台、标识解析
    CONNECTED_VEHICLES = "connected_vehicles"  # 车联网
    HEALTHCARE = "healthcare"
    FINANCE = "finance"
    ENERGY = "energy"
    EDUCATION = "education"
    TRANSPORT = "transport"
    CONSTRUCTION = "construction"  # 住建
    CULTURE_TOURISM = "culture_tourism"  # 文旅
    OTHER = "other"


class RevenueBand(StrEnum):
    """Annual revenue in CNY."""

    UNDER_10M = "under_10m"
    FROM_10M_TO_100M = "10m_to_100m"
    FROM_100M_TO_1B = "100m_to_1b"
    FROM_1B_TO_10B = "1b_to_10b"
    OVER_10B = "over_10b"


class PolicyClass(StrEnum):
    ENTERPRISE = "enterprise"  # 企业类
    PRODUCT_SERVICE = "product_service"  # 产品服务类
