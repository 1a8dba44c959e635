"""Message text for the storage benchmark: English, Chinese, and the two mixed, as a team that
often writes in Chinese about English-named tools does.

Texts come from a pool built once per seed, so a million messages cost a million choices,
not a million sentences. Two rare words (`NEEDLE_EN`, `NEEDLE_ZH`) are sprinkled into about
one message in `NEEDLE_EVERY`, so a search finds a few pages of hits, not every message.
"""

from __future__ import annotations

import random

NEEDLE_EN = "zeppelin"
NEEDLE_ZH = "量子纠缠"
NEEDLE_EVERY = 400

_EN_TEXT = (
    "the request stream token latency database message thread model reply server client cache "
    "index query session page browser render update value option config deploy test error "
    "retry timeout worker queue result schema column table python function return because "
    "however therefore usually sometimes which could should would might each every branch "
    "migration transaction commit rollback pandas dataframe groupby merge docker container "
    "kubernetes nginx proxy certificate memory profile benchmark percentile median histogram"
)
_EN_WORDS = tuple(_EN_TEXT.split())
_ZH_TEXT = (
    "数据库 查询 索引 性能 部署 服务器 模型 回复 请求 延迟 缓存 会话 页面 浏览器 配置 测试 错误 "
    "重试 超时 队列 结果 表结构 函数 返回 因为 但是 所以 通常 有时 分支 迁移 事务 提交 回滚 容器 "
    "证书 内存 基准 中位数 分布 团队 项目 文档 需求 用户 接口 参数 日志 监控 告警 备份 恢复"
)
_ZH_PHRASES = tuple(_ZH_TEXT.split())
_ZH_STARTS = ("请问", "帮我看一下", "为什么", "怎么", "能不能", "我想知道", "解释一下", "总结一下")
_ZH_ENDS = ("？", "。", "吗？", "呢？", "，谢谢。")
_CODE = (
    "```python\nimport pandas as pd\n\ndf = pd.read_csv('data.csv')\n"
    "print(df.groupby('team')['tokens'].sum())\n```",
    "```sql\nSELECT id, title FROM conversations\nWHERE user_id = :uid\n"
    "ORDER BY updated_at DESC LIMIT 20;\n```",
    "```bash\npip install -r requirements.txt\nstreamlit run server.py --server.port 8501\n```",
)
POOL_SIZE = 3000


def _en_sentence(rng: random.Random) -> str:
    words = [rng.choice(_EN_WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def _zh_sentence(rng: random.Random, english: float = 0.0) -> str:
    parts = [rng.choice(_ZH_STARTS)]
    for _ in range(rng.randint(3, 8)):
        parts.append(rng.choice(_EN_WORDS) if rng.random() < english else rng.choice(_ZH_PHRASES))
    # Chinese runs without spaces; an English word keeps a space on each side.
    text = "".join(f" {part} " if part.isascii() else part for part in parts).strip()
    return text.replace("  ", " ") + rng.choice(_ZH_ENDS)


def _paragraph(rng: random.Random, chars: int, language: str) -> str:
    text = ""
    while len(text) < chars:
        if language == "en":
            sentence = _en_sentence(rng)
        else:
            sentence = _zh_sentence(rng, english=0.3 if language == "mixed" else 0.0)
        text += (" " if text and language == "en" else "") + sentence
    return text


def _reply(rng: random.Random, language: str) -> str:
    body = _paragraph(rng, rng.randint(150, 700), language)
    kind = rng.random()
    if kind < 0.2:
        return f"{body}\n\n{rng.choice(_CODE)}"
    if kind < 0.35:
        items = "\n".join(f"- {_paragraph(rng, 40, language)}" for _ in range(3))
        return f"{body}\n\n{items}"
    return body


class TextPool:
    """Questions and replies in three languages, picked at random from a fixed pool."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"text-{seed}")
        languages = ("en", "zh", "mixed")
        self.questions = [
            _paragraph(rng, rng.randint(20, 250), languages[index % 3])
            for index in range(POOL_SIZE)
        ]
        self.replies = [_reply(rng, languages[index % 3]) for index in range(POOL_SIZE)]

    def question(self, rng: random.Random) -> str:
        return self._with_needle(rng, rng.choice(self.questions))

    def reply(self, rng: random.Random) -> str:
        return self._with_needle(rng, rng.choice(self.replies))

    @staticmethod
    def _with_needle(rng: random.Random, text: str) -> str:
        draw = rng.randrange(NEEDLE_EVERY)
        if draw == 0:
            return f"{text} The {NEEDLE_EN} is the example here."
        if draw == 1:
            return f"{text}以{NEEDLE_ZH}为例。"
        return text
