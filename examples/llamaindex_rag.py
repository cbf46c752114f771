"""LlamaIndex: a query engine and a chat engine over the bundled Chinese documents, real models.

DashScope serves all three models (the AIsa gateway has no embeddings endpoint):
text-embedding-v4 embeds the nodes, qwen3-rerank reorders what the index retrieved (a node
postprocessor), and qwen-plus answers. Without DASHSCOPE_API_KEY everything runs against the
offline gateway, whose vectors and rerank scores come from the text (hashed character n-grams):
the retrieval is real even offline; only the answers are emulated.

    python examples/llamaindex_rag.py
"""

from _gateway import DATA, gateway
from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter

from llama_index_cn_llm import CNLLM, CNLLMEmbedding, CNLLMRerank

with gateway("dashscope") as settings:
    Settings.embed_model = CNLLMEmbedding(model="text-embedding-v4", **settings)
    # CNLLM reads the model's real context window and output limit from the catalog.
    Settings.llm = llm = CNLLM(model="qwen-plus", temperature=0, **settings)
    # SentenceSplitter already ends sentences at 。？！ as well as . ? !
    Settings.node_parser = SentenceSplitter(chunk_size=128, chunk_overlap=0)

    documents = SimpleDirectoryReader(str(DATA), required_exts=[".txt"]).load_data()
    index = VectorStoreIndex.from_documents(documents)
    print(f"indexed {len(documents)} documents; context window {llm.metadata.context_window}")

    # A query engine: retrieve 6 by vector similarity, keep the 2 the reranker scores highest.
    rerank = CNLLMRerank(model="qwen3-rerank", top_n=2, **settings)
    query_engine = index.as_query_engine(similarity_top_k=6, node_postprocessors=[rerank])
    response = query_engine.query("大熊猫每天吃多少竹子？")
    best = response.source_nodes[0]
    print(f"best passage: [{best.node.metadata['file_name']}] {best.node.get_content()[:60]}")
    print("rerank scores:", [round(n.score or 0.0, 3) for n in response.source_nodes])
    print("query engine:", response)

    # A chat engine: each question is condensed with the history, then answered from the index.
    chat_engine = index.as_chat_engine(
        chat_mode="condense_plus_context", similarity_top_k=6, node_postprocessors=[rerank]
    )
    print("chat engine:", chat_engine.chat("二十四节气是什么时候列入非遗名录的？"))
    print("chat engine:", chat_engine.chat("那冬至有什么习俗？"))
